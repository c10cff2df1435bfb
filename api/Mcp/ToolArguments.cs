using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MemRL.Errors;

namespace MemRL.Api.Mcp;

/// <summary>One argument of a tool: its name, JSON Schema and description. The schema a host sees is built from these.</summary>
/// <param name="Name">The argument's name.</param>
/// <param name="Schema">Its JSON Schema (type and bounds), without the description.</param>
/// <param name="Description">What to pass, for the model.</param>
/// <param name="Required">Whether a call must give it.</param>
internal sealed record ToolArgument(string Name, JsonObject Schema, string Description, bool Required = false)
{
    public static ToolArgument Text(string name, string description, int maxLength, bool required = false, int minLength = 0) =>
        new(name, new JsonObject { ["type"] = "string", ["minLength"] = minLength, ["maxLength"] = maxLength }, description, required);

    public static ToolArgument Integer(string name, string description, int minimum, int maximum, bool required = false) =>
        new(name, new JsonObject { ["type"] = "integer", ["minimum"] = minimum, ["maximum"] = maximum }, description, required);

    public static ToolArgument Number(string name, string description, double? minimum = null, double? maximum = null, bool required = false)
    {
        var schema = new JsonObject { ["type"] = "number" };
        if (minimum is { } min)
        {
            schema["minimum"] = min;
        }

        if (maximum is { } max)
        {
            schema["maximum"] = max;
        }

        return new(name, schema, description, required);
    }

    public static ToolArgument Boolean(string name, string description, bool required = false) =>
        new(name, new JsonObject { ["type"] = "boolean" }, description, required);

    public static ToolArgument TextList(string name, string description, int maxItems, int maxLength) =>
        new(name, new JsonObject
        {
            ["type"] = "array", ["maxItems"] = maxItems,
            ["items"] = new JsonObject { ["type"] = "string", ["minLength"] = 1, ["maxLength"] = maxLength },
        }, description);

    public static ToolArgument StringMap(string name, string description, int maxEntries, int maxValueLength) =>
        new(name, new JsonObject
        {
            ["type"] = "object", ["maxProperties"] = maxEntries,
            ["additionalProperties"] = new JsonObject { ["type"] = "string", ["maxLength"] = maxValueLength },
        }, description);

    /// <summary>The tool's input schema: an object of these arguments, and no others.</summary>
    public static JsonElement InputSchema(IReadOnlyList<ToolArgument> arguments)
    {
        var properties = new JsonObject();
        foreach (var argument in arguments)
        {
            var schema = argument.Schema.DeepClone().AsObject();
            schema["description"] = argument.Description;
            properties[argument.Name] = schema;
        }

        var root = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = properties,
            ["required"] = new JsonArray([.. arguments.Where(a => a.Required).Select(a => (JsonNode)a.Name)]),
            ["additionalProperties"] = false,
        };
        return JsonSerializer.SerializeToElement(root);
    }
}

/// <summary>
/// A tool call's arguments, read strictly: an unknown argument, a value of the wrong JSON type, a missing required one
/// or one out of range throws a <see cref="FieldError"/> naming it, with the expected and the actual value, before
/// anything is changed. The SDK's own binding would answer such calls with a generic "An error occurred" that does
/// not tell a model what to fix.
/// </summary>
internal sealed class ToolArguments
{
    private readonly IReadOnlyDictionary<string, JsonElement> _given;

    public ToolArguments(IReadOnlyList<ToolArgument> declared, IDictionary<string, JsonElement>? given)
    {
        _given = given is null ? new Dictionary<string, JsonElement>() : new Dictionary<string, JsonElement>(given, StringComparer.Ordinal);
        // A misspelt argument ("reward_value") would otherwise be dropped and the model believe it was used.
        foreach (string name in _given.Keys)
        {
            if (!declared.Any(a => a.Name == name))
            {
                throw FieldError.Invalid(name, $"one of the arguments {string.Join(", ", declared.Select(a => a.Name))}", "an unknown argument",
                    Reasons.UnknownMember);
            }
        }
    }

    /// <summary>A string argument, trimmed of nothing; null when absent (or JSON null) and not required.</summary>
    public string? Text(string name, int maxLength, bool required = false, int minLength = 0)
    {
        if (!TryGet(name, required, "a string", out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw WrongType(name, minLength > 0 ? "a non-empty string" : "a string", value);
        }

        string text = value.GetString()!;
        if (text.Length > maxLength)
        {
            throw FieldError.Invalid(name, $"at most {maxLength} characters", $"{text.Length} characters");
        }

        if (text.Trim().Length < minLength)
        {
            throw FieldError.Invalid(name, minLength == 1 ? "a non-empty string" : $"at least {minLength} characters", FieldError.Quote(text));
        }

        return text;
    }

    /// <summary>An integer argument in [<paramref name="minimum"/>, <paramref name="maximum"/>]; null when absent and not required.</summary>
    public int? Integer(string name, int minimum, int maximum, bool required = false)
    {
        if (!TryGet(name, required, $"an integer in [{minimum}, {maximum}]", out var value))
        {
            return null;
        }

        string expected = $"an integer in [{minimum}, {maximum}]";
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw WrongType(name, expected, value);
        }

        // 3.0 is an integer in JSON Schema; 3.5 and 1e300 are not ints.
        if (!value.TryGetDouble(out double number) || number != Math.Floor(number) || number < int.MinValue || number > int.MaxValue)
        {
            throw FieldError.Invalid(name, expected, value.GetRawText());
        }

        int n = (int)number;
        return n >= minimum && n <= maximum ? n : throw FieldError.OutOfRange(name, expected, value.GetRawText());
    }

    /// <summary>A finite number in [<paramref name="minimum"/>, <paramref name="maximum"/>] (either bound optional); null when absent and not required.</summary>
    public double? Number(string name, double? minimum = null, double? maximum = null, bool required = false)
    {
        string expected = (minimum, maximum) switch
        {
            ({ } min, { } max) => $"a number in [{FieldError.Format(min)}, {FieldError.Format(max)}]",
            ({ } min, null) => $"a number at least {FieldError.Format(min)}",
            (null, { } max) => $"a number at most {FieldError.Format(max)}",
            _ => "a finite number",
        };
        if (!TryGet(name, required, expected, out var value))
        {
            return null;
        }

        // JSON has no NaN or infinity; a number too large for a double reads as infinity and is refused as sent.
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw WrongType(name, expected, value);
        }

        if (!value.TryGetDouble(out double number) || !double.IsFinite(number))
        {
            throw FieldError.Invalid(name, expected, value.GetRawText(), Reasons.NotFinite);
        }

        return minimum is { } lo && number < lo || maximum is { } hi && number > hi
            ? throw FieldError.OutOfRange(name, expected, value.GetRawText())
            : number;
    }

    /// <summary>A boolean argument; null when absent and not required.</summary>
    public bool? Boolean(string name, bool required = false)
    {
        if (!TryGet(name, required, "true or false", out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "true or false", value),
        };
    }

    /// <summary>A list of non-empty strings of at most <paramref name="maxItems"/> items; null when absent.</summary>
    public IReadOnlyList<string>? TextList(string name, int maxItems, int maxLength)
    {
        string expected = $"an array of at most {maxItems} non-empty strings";
        if (!TryGet(name, required: false, expected, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw WrongType(name, expected, value);
        }

        int count = value.GetArrayLength();
        if (count > maxItems)
        {
            throw FieldError.Invalid(name, expected, $"{count} items");
        }

        var items = new List<string>(count);
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 } text || text.Length > maxLength)
            {
                throw FieldError.Invalid($"{name}[{i}]", $"a non-empty string of at most {maxLength} characters", Describe(item));
            }

            items.Add(text);
            i++;
        }

        return items;
    }

    /// <summary>An object of string values (limits are checked by whoever takes it); null when absent.</summary>
    public IReadOnlyDictionary<string, string>? StringMap(string name)
    {
        const string expected = "an object whose values are strings";
        if (!TryGet(name, required: false, expected, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw WrongType(name, expected, value);
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw FieldError.Invalid($"{name}.{property.Name}", "a string", Describe(property.Value));
            }

            map[property.Name] = property.Value.GetString()!;
        }

        return map;
    }

    private bool TryGet(string name, bool required, string expected, out JsonElement value)
    {
        if (_given.TryGetValue(name, out value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
        {
            return true;
        }

        return required ? throw FieldError.Missing(name, expected) : false;
    }

    private static ArgumentException WrongType(string name, string expected, JsonElement value) =>
        FieldError.Invalid(name, expected, Describe(value));

    /// <summary>What a value is, for an error: its JSON kind and, clipped, its text.</summary>
    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"the string {FieldError.Quote(value.GetString())}",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {value.GetRawText()}",
        JsonValueKind.Array => $"an array of {value.GetArrayLength().ToString(CultureInfo.InvariantCulture)} items",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };
}
