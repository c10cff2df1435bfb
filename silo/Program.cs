using MemRL.Grains;
using Microsoft.Extensions.Hosting;

// The embedded default: one silo on localhost, nothing to install. Multi-silo clustering and durable storage are
// configured with the storage work (issue 5).
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering();
    silo.AddMemRL();
});

using var host = builder.Build();
await host.RunAsync();
