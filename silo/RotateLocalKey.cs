using System.Globalization;
using MemRL.Api;
using Microsoft.Extensions.Configuration;

namespace MemRL.Silo;

/// <summary>
/// Adds a new local key to the embedded default's key ring and writes it to the local key file; the previous keys stay
/// accepted for <c>MemRL:Api:LocalKeyGrace</c>, at most <c>MemRL:Api:LocalKeysKept</c> keys in all. A running silo
/// accepts the new key at its first use (it rereads the ring when an unknown key arrives).
/// </summary>
internal static class RotateLocalKey
{
    public static int Run(IConfiguration configuration, TextWriter output, TextWriter error)
    {
        var options = configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        if (options.Keys.Count > 0)
        {
            error.WriteLine("rotate-local-key: MemRL:Api:Keys is configured, so the silo uses those keys and no local key; mint one with new-api-key.");
            return 2;
        }

        var now = DateTimeOffset.UtcNow;
        string key = LocalKeys.Rotate(options, now);
        output.WriteLine($"New local key for tenant '{LocalKeys.Tenant}': {key} (written to {Path.GetFullPath(options.LocalKeyPath)}).");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"The previous keys stay accepted until {now + options.LocalKeyGrace:u} (MemRL:Api:LocalKeyGrace), at most {options.LocalKeysKept} keys in all (MemRL:Api:LocalKeysKept)."));
        return 0;
    }
}
