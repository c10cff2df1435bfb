using System.Text.RegularExpressions;

namespace MemRL.Api.Tests;

/// <summary>
/// The API answers errors from their data (FieldError parts and exception types), never from message text: a reworded
/// message must not change a status, a field or a reason. This scans the API's sources for the two ways back to text.
/// </summary>
public sealed partial class ProblemSourceTests
{
    [Fact]
    public void ApiSources_NeitherParseNorEchoExceptionMessages()
    {
        string api = Path.Combine(RepositoryRoot(), "api");
        var sources = Directory.EnumerateFiles(api, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(sources, f => Path.GetFileName(f) == "Problems.cs");

        var offences = new List<string>();
        foreach (string file in sources)
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (Forbidden().IsMatch(lines[i]))
                {
                    offences.Add($"{Path.GetRelativePath(api, file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offences.Count == 0, "api/ must build answers from FieldError data, not message text:\n" + string.Join("\n", offences));
    }

    [Fact]
    public void TheScan_FindsWhatItLooksFor()
    {
        Assert.Matches(Forbidden(), "detail: exception.Message,");
        Assert.Matches(Forbidden(), "using System.Text.RegularExpressions;");
        Assert.Matches(Forbidden(), "[GeneratedRegex(@\"x\")]");
        Assert.DoesNotMatch(Forbidden(), "string Sentence(FieldErrorParts parts)");
    }

    // ".Message" as a member access (not "Messages" or "MessageId"), and any regular-expression type or attribute.
    [GeneratedRegex(@"\.Message\b|Regex|RegularExpressions")]
    private static partial Regex Forbidden();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MemRL.Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No MemRL.Cluster.sln above {AppContext.BaseDirectory}.");
    }
}
