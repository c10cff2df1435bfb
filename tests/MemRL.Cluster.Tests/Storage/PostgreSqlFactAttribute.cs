namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A fact that needs a PostgreSQL server: it runs when <c>MEMRL_TEST_POSTGRES</c> holds an Npgsql connection string
/// (.ci/run starts a throwaway server and sets it) and is skipped, with that reason, otherwise.
/// </summary>
public sealed class PostgreSqlFactAttribute : FactAttribute
{
    public const string Variable = "MEMRL_TEST_POSTGRES";

    public PostgreSqlFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            Skip = $"{Variable} is not set; set it to an Npgsql connection string (as .ci/run does) to run the PostgreSQL tests.";
        }
    }

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable);
}
