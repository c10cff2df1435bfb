using System.Security.Claims;
using MemRL.Client;
using MemRL.Client.Export;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MemRL.Api;

/// <summary>
/// Export and import of a bank over HTTP (docs/export-format.md): the .NET client's exporter and importer behind the
/// tenant's names. Neither holds a bank in memory: the export is written to a temporary file frame by frame and sent
/// from it; the import is read from the request body into the importer's own temporary file.
/// </summary>
internal static class BankTransfer
{
    public const string ContentType = "application/vnd.memrl.export";

    // The export is spooled to a file rather than written straight to the response: the bank refuses writes while its
    // shards are read, so a slow client must not hold that freeze open, and an error part way (a shard unavailable)
    // is answered as a problem rather than as a 200 whose body stops short.
    public static async Task<IResult> ExportAsync(string bank, string? userId, ClaimsPrincipal user, MemoryClient memory, CancellationToken cancellationToken)
    {
        string name = Tenants.ClusterBankName(Tenants.TenantOf(user), bank);
        _ = await memory.GetBankAsync(name) ?? throw new BankNotFoundException(bank);
        string spool = Path.Combine(Path.GetTempPath(), $"memrl-export-{Guid.NewGuid():N}.bin");
        var file = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        try
        {
            await memory.ExportBankAsync(name, file, userId, cancellationToken: cancellationToken);
            file.Position = 0;
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }

        // The result disposes the file after sending it, which deletes it.
        return TypedResults.Stream(file, ContentType, fileDownloadName: $"{bank}.memrl-export");
    }

    public static async Task<IResult> ImportAsync(
        string bank, HttpContext context, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage, BankEmbedders bankEmbedders, CancellationToken cancellationToken)
    {
        string tenant = Tenants.TenantOf(user);
        string name = Tenants.ClusterBankName(tenant, bank, "bank");
        if (await memory.GetBankAsync(name) is not null)
        {
            // Refused before the body is read: an import makes a new bank and never merges into one.
            await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Bank exists",
                $"Bank '{bank}' already exists; an import creates a new bank: delete it or import under another name.",
                field: "bank", expected: "the name of a bank that does not exist", actual: bank);
            return Results.Empty;
        }

        await usage.CheckNewBankAsync(tenant);
        // A bank is larger than a JSON request: the body limit (MaxRequestBytes) is lifted for this route only. The
        // importer copies the body to a temporary file and checks it whole before it creates anything.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        bankEmbedders.Forget(name);
        // The stream's memories and text count against the tenant's quotas like writes do, checked before anything is created.
        var result = await memory.ImportBankAsync(name, context.Request.Body,
            new ImportSettings(Admit: size => usage.CheckImportAsync(tenant, size.Memories, size.TextBytes)), cancellationToken: cancellationToken);
        usage.Forget(tenant);
        return TypedResults.Created($"/v1/banks/{bank}", new ImportView(BankView.From(result.Bank, bank), result.Counts.Keys, result.Counts.Memories));
    }
}
