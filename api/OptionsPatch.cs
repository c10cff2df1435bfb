using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Http;

namespace MemRL.Api;

/// <summary>
/// The two ways to change a bank's options: replace (PUT, every member given) and merge (PATCH, the members given
/// over the current ones). Both read the JSON object themselves, so that a member left out can be told from one sent
/// with its default value, and both name the member at fault as the caller spelt it.
/// </summary>
internal static class OptionsPatch
{
    /// <summary>The request body as a JSON object; 415 for another media type, 400 naming the body otherwise.</summary>
    public static async Task<JsonObject> ReadObjectAsync(HttpRequest request, JsonSerializerOptions options)
    {
        string? type = request.ContentType?.Split(';')[0].Trim();
        if (type is not ("application/json" or "application/merge-patch+json"))
        {
            throw new BadHttpRequestException($"Content-Type is '{request.ContentType}'; expected application/json.", StatusCodes.Status415UnsupportedMediaType);
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(buffer.ToArray());
        }
        catch (JsonException json)
        {
            // The document parser knows where it stopped but not in which member: find it, so the answer names the option.
            var located = MemberAt(buffer.ToArray()) is { } member
                ? new JsonException($"The body stopped being JSON in member '{member}'.", "$." + member, json.LineNumber, json.BytePositionInLine, json)
                : json;
            throw new BadHttpRequestException("The body is not JSON.", StatusCodes.Status400BadRequest, located);
        }

        return node as JsonObject
            ?? throw FieldError.Invalid("body", "a JSON object of options (see /openapi/v1.json)", node?.ToJsonString() ?? "null");
    }

    // The top-level member whose value the reader was in when the JSON stopped being JSON, or null.
    private static string? MemberAt(byte[] body)
    {
        var reader = new Utf8JsonReader(body);
        string? member = null;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    member = reader.GetString();
                }
            }
        }
        catch (JsonException)
        {
            return member;
        }

        return null;
    }

    /// <summary>The options <paramref name="given"/> spells in full; 400 naming the first member missing or unknown.</summary>
    public static BankOptions Replace(JsonObject given, JsonSerializerOptions options)
    {
        var info = options.GetTypeInfo(typeof(BankOptions));
        var canonical = Canonical(given, info);
        foreach (var property in info.Properties)
        {
            if (!canonical.ContainsKey(property.Name))
            {
                throw FieldError.Missing(property.Name, $"{BindingProblems.Expected(property.PropertyType, options)} (PUT replaces every option; PATCH changes some)");
            }
        }

        return Read(canonical, options);
    }

    /// <summary><paramref name="current"/> with the members of <paramref name="given"/> in place of its own.</summary>
    public static BankOptions Merge(BankOptions current, JsonObject given, JsonSerializerOptions options)
    {
        var info = options.GetTypeInfo(typeof(BankOptions));
        var merged = JsonSerializer.SerializeToNode(current, options)!.AsObject();
        foreach (var (name, value) in Canonical(given, info))
        {
            merged[name] = MergeValue(merged[name], value);
        }

        return Read(merged, options);
    }

    // RFC 7396 for one member: an object merges into an object member by member (so {"retention":{"maxActive":500}}
    // keeps the policy's other fields, and null removes one); anything else replaces the member.
    private static JsonNode? MergeValue(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject fields || target is not JsonObject current)
        {
            return patch?.DeepClone();
        }

        var merged = current.DeepClone().AsObject();
        foreach (var (name, value) in fields)
        {
            // Names as the caller spelt them, matched without case as reading does; the reader names an unknown one.
            string key = merged.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) ?? name;
            if (value is null)
            {
                merged.Remove(key);
            }
            else
            {
                merged[key] = MergeValue(merged[key], value);
            }
        }

        return merged;
    }

    // The members of given under the options' own names (reading is case-insensitive, as for bound bodies).
    private static JsonObject Canonical(JsonObject given, JsonTypeInfo info)
    {
        var canonical = new JsonObject();
        foreach (var (name, value) in given)
        {
            var property = info.Properties.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
                ?? throw FieldError.Invalid(name, $"one of the members {string.Join(", ", info.Properties.Select(p => p.Name))}",
                    value?.ToJsonString() ?? "null", Reasons.UnknownMember, $"{name} is not an option; expected one of {string.Join(", ", info.Properties.Select(p => p.Name))}.");
            canonical[property.Name] = value?.DeepClone();
        }

        return canonical;
    }

    private static BankOptions Read(JsonObject value, JsonSerializerOptions options)
    {
        string text = value.ToJsonString();
        try
        {
            return JsonSerializer.Deserialize<BankOptions>(text, options)
                ?? throw FieldError.Invalid("body", "a JSON object of options", "null");
        }
        catch (JsonException json)
        {
            var parts = BindingProblems.Describe(json, typeof(BankOptions), text, options);
            throw FieldError.Invalid(parts.Field, parts.Expected, parts.Actual, parts.Reason);
        }
    }
}
