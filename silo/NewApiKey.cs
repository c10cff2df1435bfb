using MemRL.Api;

namespace MemRL.Silo;

/// <summary>
/// Mints an API key: prints the key once (it is not stored anywhere) and the configuration entry that holds only its
/// hash, as JSON and as environment variables.
/// </summary>
internal static class NewApiKey
{
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        string? tenant = null;
        bool readOnly = false;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--tenant" when i + 1 < args.Count:
                    tenant = args[++i];
                    break;
                case "--read-only":
                    readOnly = true;
                    break;
                default:
                    error.WriteLine($"new-api-key: argument '{args[i]}' is not understood; expected --tenant NAME [--read-only].");
                    return 2;
            }
        }

        if (!Tenants.IsValidTenant(tenant))
        {
            error.WriteLine($"new-api-key: --tenant is '{tenant}'; expected 1 to {Tenants.MaxTenantLength} lower-case letters, digits or '-'.");
            return 2;
        }

        string key = ApiKeyRing.NewKey();
        string hash = ApiKeyRing.Hash(key);
        string flag = readOnly ? "true" : "false";
        output.WriteLine($"API key for tenant '{tenant}'{(readOnly ? " (read-only)" : "")}, shown once: {key}");
        output.WriteLine();
        output.WriteLine("Add it to the silo's configuration (the hash only; N = the next free index):");
        output.WriteLine($$"""  "MemRL": { "Api": { "Keys": [ { "Tenant": "{{tenant}}", "Sha256": "{{hash}}", "ReadOnly": {{flag}} } ] } }""");
        output.WriteLine();
        output.WriteLine("or as environment variables:");
        output.WriteLine($"  MemRL__Api__Keys__N__Tenant={tenant}");
        output.WriteLine($"  MemRL__Api__Keys__N__Sha256={hash}");
        output.WriteLine($"  MemRL__Api__Keys__N__ReadOnly={flag}");
        return 0;
    }
}
