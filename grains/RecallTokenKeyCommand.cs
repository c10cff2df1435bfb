using MemRL.Grains.Storage;
using Microsoft.Extensions.Configuration;

namespace MemRL.Grains;

/// <summary>
/// <c>rotate-recall-token-key</c>: adds a new signing key to the silo's recall-token key ring (the embedded default's
/// ring file; a configured <c>MemRL:RecallTokenKey</c> is rotated in configuration instead, with the old key moved to
/// <c>MemRL:RecallTokenPreviousKeys</c>). Tokens signed with the previous keys stay valid until they expire.
/// </summary>
public static class RecallTokenKeyCommand
{
    /// <summary>Rotates the ring named by <paramref name="configuration"/>; returns the process exit code.</summary>
    public static int Run(IConfiguration configuration, TextWriter output, TextWriter error)
    {
        var memrl = configuration.GetSection(MemRLClusterOptions.Section).Get<MemRLClusterOptions>() ?? new MemRLClusterOptions();
        if (!string.IsNullOrEmpty(memrl.RecallTokenKey))
        {
            error.WriteLine("MemRL:RecallTokenKey is configured, so the key ring lives in configuration: set a new key there and move the old one to MemRL:RecallTokenPreviousKeys.");
            return 2;
        }

        var storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        string path = RecallTokenKeys.RingPath(memrl, storage);
        int kept = RecallTokenKeys.Rotate(path);
        output.WriteLine($"Recall tokens are now signed with a new key ({kept} key(s) kept in {path}; tokens of the previous ones stay valid until they expire). Restart the silo to use it.");
        return 0;
    }
}
