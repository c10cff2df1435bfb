namespace MemRL.GrainInterfaces;

/// <summary>Health check tags shared by the silo's checks and the HTTP probes that select them.</summary>
public static class HealthTags
{
    /// <summary>Checked by the startup probe: the silo has joined the cluster.</summary>
    public const string Startup = "startup";

    /// <summary>Checked by the readiness probe: the silo is active and its storage answers.</summary>
    public const string Ready = "ready";
}
