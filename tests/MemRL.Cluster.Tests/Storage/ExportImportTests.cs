using MemRL.Client;
using MemRL.Client.Export;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>Bank export and import (docs/export-format.md): a round trip between backends, consistency under writes, bad streams refused.</summary>
[Collection(StorageClusterCollection.Name)]
public sealed class ExportImportTests
{
    private static readonly BankOptions Options = new() { Delta = -1, MergeThreshold = 0.95, K1 = 8, K2 = 5 };

    [PostgreSqlFact]
    public async Task RoundTrip_SqliteToPostgreSql_RecallsIdenticallyInExactMode_WithIdenticalQ()
    {
        using var file = new SqliteFile("export-roundtrip");
        string source = ClusterFixture.NewBankName("export-src");
        string target = ClusterFixture.NewBankName("export-dst");
        var vectors = new Vectors(71, BankHelpers.Dimension);
        var queries = Enumerable.Range(0, 12).Select(_ => vectors.Gaussian()).ToList();
        byte[] export = [];
        List<string[]> before = [];
        List<string> sourceStates = [];
        List<MemoryId> sourceIds = [];
        ExportCounts counts = new(0, 0);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 50), async (memory, _) =>
        {
            await memory.CreateBankAsync(source, new BankSpec(BankHelpers.Dimension, "test-embedder", Options, 3, new IndexSettings(Exact: true)));
            var ids = await SeedAsync(memory.Bank(source), vectors, 120);
            before = await RecallAllAsync(memory.Bank(source), queries);
            sourceIds = [.. ids.Select(id => MemoryId.Parse(id, "id"))];
            foreach (string id in ids)
            {
                var m = await memory.Bank(source).GetAsync(id);
                sourceStates.Add($"{MemoryId.Parse(id, "id").Sequence} {m.ArchivedAt?.UtcTicks} {m.RestoredAt?.UtcTicks} {m.ExpiresAt?.UtcTicks} {BitConverter.DoubleToInt64Bits(m.Q)} {m.Visits}");
            }

            Assert.Contains(sourceStates, line => line.Split(' ')[1].Length > 0);
            Assert.Contains(sourceStates, line => line.Split(' ')[2].Length > 0);
            Assert.Contains(sourceStates, line => line.Split(' ')[3].Length > 0);
            using var stream = new MemoryStream();
            counts = await memory.ExportBankAsync(source, stream);
            export = stream.ToArray();
            Assert.Equal(120, counts.Memories);
        });

        await StorageClusters.RunAsync(StorageClusters.PostgreSql(PostgreSqlFactAttribute.ConnectionString!, snapshotEvery: 50), async (memory, _) =>
        {
            var result = await memory.ImportBankAsync(target, new MemoryStream(export));
            Assert.Equal(counts, result.Counts);
            var bank = memory.Bank(target);
            var after = await RecallAllAsync(bank, queries);
            Assert.Equal(before, after);
            // Every memory, archived or not, with its archive, restore and expiry times, Q and visits, under its new id.
            foreach (var (sequence, slot, line) in sourceStates.Select((l, i) => (sourceIds[i].Sequence, sourceIds[i].Slot, l)))
            {
                var m = await bank.GetAsync(new MemoryId(result.Bank.Incarnation, slot, sequence).ToString());
                Assert.Equal(line, $"{sequence} {m.ArchivedAt?.UtcTicks} {m.RestoredAt?.UtcTicks} {m.ExpiresAt?.UtcTicks} {BitConverter.DoubleToInt64Bits(m.Q)} {m.Visits}");
            }

            // New writes take sequences above every imported one.
            long highest = after.SelectMany(r => r).Select(s => long.Parse(s.Split('|')[1], System.Globalization.CultureInfo.InvariantCulture)).Max();
            var w = await bank.WriteAsync(vectors.Gaussian(), "new intent", "new experience", true);
            Assert.True(MemoryId.Parse(w.MemoryId, "id").Sequence > highest);
            Assert.Equal(result.Bank.Incarnation, MemoryId.Parse(w.MemoryId, "id").Incarnation);
            await memory.DeleteBankAsync(target);
        });
    }

    [Fact]
    public async Task Import_RefusesTruncatedCorruptedNewerAndOtherDimensionStreams_CreatingNothing()
    {
        using var file = new SqliteFile("export-bad");
        string source = ClusterFixture.NewBankName("export-bad");
        string target = ClusterFixture.NewBankName("import-bad");
        var vectors = new Vectors(73, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, _) =>
        {
            await memory.CreateBankAsync(source, new BankSpec(BankHelpers.Dimension, "test-embedder", Options, 2, new IndexSettings(Exact: true)));
            await SeedAsync(memory.Bank(source), vectors, 30);
            using var stream = new MemoryStream();
            await memory.ExportBankAsync(source, stream);
            byte[] good = stream.ToArray();

            byte[] truncated = good[..^7];
            byte[] corrupted = (byte[])good.Clone();
            corrupted[good.Length / 2] ^= 0x40;
            byte[] newer = (byte[])good.Clone();
            newer[8] = ExportFormat.Version + 1;

            await Refused(truncated, null, "stream.frame[", Reasons.ExportTruncated);
            await Refused(corrupted, null, ".crc", Reasons.ExportCorrupted);
            await Refused(newer, null, "stream.formatVersion", Reasons.ExportVersion);
            await Refused(good, new ImportSettings(ExpectedDimension: BankHelpers.Dimension + 1), "stream.header.dimension", Reasons.ExportDimension);

            // The same stream unchanged imports: each refusal above was the change's.
            var imported = await memory.ImportBankAsync(target, new MemoryStream(good), new ImportSettings(ExpectedDimension: BankHelpers.Dimension));
            Assert.Equal(30, imported.Counts.Memories);
            // Stats count active memories: the seed's archived ones are in the stream and the bank, out of recall.
            Assert.Equal(30 - ArchivedBySeed(30), (await memory.Bank(target).GetStatsAsync()).Memories);

            async Task Refused(byte[] bytes, ImportSettings? settings, string field, string reason)
            {
                var ex = await Assert.ThrowsAnyAsync<ArgumentException>(() => memory.ImportBankAsync(target, new MemoryStream(bytes), settings));
                Assert.True(FieldError.TryRead(ex, out var parts), ex.Message);
                Assert.Contains(field, parts.Field, StringComparison.Ordinal);
                Assert.Equal(reason, parts.Reason);
                Assert.Null(await memory.GetBankAsync(target));
            }
        });
    }

    [Fact]
    public async Task Export_WhileAgentsWrite_HoldsEveryWriteAcknowledgedBeforeAndNoneStartedAfter()
    {
        using var file = new SqliteFile("export-live");
        string source = ClusterFixture.NewBankName("export-live");
        var vectors = new Vectors(79, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, _) =>
        {
            await memory.CreateBankAsync(source, new BankSpec(BankHelpers.Dimension, "test-embedder", Options, 3, new IndexSettings(Exact: true)));
            var bank = memory.Bank(source);
            var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var stop = new CancellationTokenSource();
            var agents = Enumerable.Range(0, 4).Select(a => Task.Run(async () =>
            {
                var own = new Vectors(100 + a, BankHelpers.Dimension);
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    long started = clock.ElapsedTicks;
                    string op = $"agent{a}-{i}";
                    while (true)
                    {
                        try
                        {
                            var w = await bank.WriteAsync(own.Gaussian(), $"agent {a} intent {i}", $"experience {i}", true, operationId: op);
                            acknowledged[w.MemoryId] = started;
                            break;
                        }
                        catch (ShardUnavailableException)
                        {
                            // Frozen for the export's cut: retried under the same operation id.
                            await Task.Delay(20);
                        }
                    }
                }
            })).ToArray();

            await Task.Delay(1500);
            long exportCalled = clock.ElapsedTicks;
            var ackedBefore = acknowledged.Keys.ToHashSet();
            using var stream = new MemoryStream();
            await memory.ExportBankAsync(source, stream);
            long exportReturned = clock.ElapsedTicks;
            await Task.Delay(500);
            await stop.CancelAsync();
            await Task.WhenAll(agents);

            stream.Position = 0;
            var reader = new ExportReader(stream);
            var header = await reader.ReadHeaderAsync();
            var exported = new HashSet<long>();
            while (await reader.ReadKeyAsync() is { } key)
            {
                exported.UnionWith(key.Memories.Select(m => m.Sequence));
            }

            Assert.NotEmpty(ackedBefore);
            Assert.All(ackedBefore, id => Assert.Contains(MemoryId.Parse(id, "id").Sequence, exported));
            var startedAfter = acknowledged.Where(p => p.Value > exportReturned).Select(p => MemoryId.Parse(p.Key, "id").Sequence).ToList();
            Assert.NotEmpty(startedAfter);
            Assert.All(startedAfter, s => Assert.DoesNotContain(s, exported));
            // Everything exported was acknowledged to some agent (no half-applied write), and the bank is writable again.
            var all = acknowledged.Keys.Select(id => MemoryId.Parse(id, "id").Sequence).ToHashSet();
            Assert.All(exported, s => Assert.Contains(s, all));
            Assert.True(exportCalled < exportReturned);
        });
    }

    [Fact]
    public async Task RoundTrip_KeepsEveryMemorysRewardHistory_UnderItsNewId()
    {
        using var file = new SqliteFile("export-history");
        string source = ClusterFixture.NewBankName("history-src");
        string target = ClusterFixture.NewBankName("history-dst");
        var vectors = new Vectors(97, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 50), async (memory, _) =>
        {
            byte[] export = await SeededExportAsync(memory, source, vectors, 80);
            var imported = await memory.ImportBankAsync(target, new MemoryStream(export), new ImportSettings(ShardCount: 3));

            int entries = 0, edits = 0;
            string? cursor = null;
            do
            {
                var page = await memory.Bank(source).ListAsync(cursor, limit: 50);
                foreach (var m in page.Memories)
                {
                    var id = MemoryId.Parse(m.Id, "id");
                    string moved = new MemoryId(imported.Bank.Incarnation, id.Slot, id.Sequence).ToString();
                    var before = await memory.Bank(source).GetHistoryAsync(m.Id, limit: 256);
                    var after = await memory.Bank(target).GetHistoryAsync(moved, limit: 256);
                    Assert.Equal(before.Entries.Select(Line), after.Entries.Select(Line));
                    Assert.Equal(m.Visits + m.Revision, before.Entries.Count);
                    Assert.Equal(m.Revision, (await memory.Bank(target).GetAsync(moved)).Revision);
                    edits += before.Entries.Count(e => e.Kind == MemoryHistoryEntry.EditKind);
                    entries += before.Entries.Count;
                }

                cursor = page.NextCursor;
            }
            while (cursor is not null);

            Assert.True(entries > 0, "the seeded rewards left no history to carry");
            Assert.True(edits > 0, "the seeded edits left no history to carry");
        });

        static string Line(MemoryHistoryEntry e) =>
            $"{e.Kind} {e.Ordinal} {e.Reward} {e.At.UtcTicks} {e.RecallId} {e.Q:R} {e.Visits} {e.Revision} {string.Join('+', e.Changed ?? [])}";
    }

    [Fact]
    public async Task Import_RefusesHistoryRowsThatDoNotBelongToTheirKey_CreatingNothing()
    {
        using var file = new SqliteFile("export-bad-history");
        string source = ClusterFixture.NewBankName("bad-history-src");
        string target = ClusterFixture.NewBankName("bad-history-dst");
        var vectors = new Vectors(101, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, _) =>
        {
            byte[] good = await SeededExportAsync(memory, source, vectors, 60);

            await Refused(row => row with { Memory = row.Memory + 1_000_000 }, ".history[0].memory");
            await Refused(row => row with { Ordinal = 0 }, ".history[0].ordinal");
            await Refused(row => row with { Ordinal = row.Ordinal + 1_000 }, ".history[0].ordinal");
            await Refused(row => row with { Entry = [9, 1, 2, 3] }, ".history[0].entry");
            // The stream rewritten unchanged imports: each refusal above was the change's.
            Assert.Equal(60, (await memory.ImportBankAsync(target, new MemoryStream(await RewriteAsync(good, null)))).Counts.Memories);

            async Task Refused(Func<HistoryRowExport, HistoryRowExport> change, string field)
            {
                var ex = await Assert.ThrowsAnyAsync<ArgumentException>(async () => await memory.ImportBankAsync(target, new MemoryStream(await RewriteAsync(good, change))));
                Assert.True(FieldError.TryRead(ex, out var parts), ex.Message);
                Assert.EndsWith(field, parts.Field, StringComparison.Ordinal);
                Assert.Null(await memory.GetBankAsync(target));
            }
        });

        // The stream read and written again, the first history row of the first key that has one changed.
        static async Task<byte[]> RewriteAsync(byte[] stream, Func<HistoryRowExport, HistoryRowExport>? change)
        {
            var reader = new ExportReader(new MemoryStream(stream));
            using var output = new MemoryStream();
            var writer = new ExportWriter(output);
            await writer.WriteHeaderAsync(await reader.ReadHeaderAsync());
            bool changed = change is null;
            while (await reader.ReadKeyAsync() is { } key)
            {
                if (!changed && key.History is { Count: > 0 } rows)
                {
                    key = key with { History = [change!(rows[0]), .. rows.Skip(1)] };
                    changed = true;
                }

                await writer.WriteKeyAsync(key);
            }

            await writer.WriteTrailerAsync();
            Assert.True(changed, "no key of the stream has history");
            return output.ToArray();
        }
    }

    [Fact]
    public async Task Import_StalledPastItsLease_IsHiddenMeanwhile_AndNeverDeletesTheBankCreatedUnderItsNameSince()
    {
        using var file = new SqliteFile("import-stalled");
        string source = ClusterFixture.NewBankName("import-stall-src");
        string target = ClusterFixture.NewBankName("import-stall-dst");
        var vectors = new Vectors(83, BankHelpers.Dimension);
        var spec = new BankSpec(BankHelpers.Dimension, "test-embedder", Options, 1, new IndexSettings(Exact: true));
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, _) =>
        {
            byte[] export = await SeededExportAsync(memory, source, vectors, 300);
            using var gate = new StallingProgress(stallAtReport: 2);
            var import = Task.Run(() => memory.ImportBankAsync(target, new MemoryStream(export), new ImportSettings(Lease: TimeSpan.FromSeconds(2)), gate));
            Assert.True(gate.Reached.Wait(TimeSpan.FromMinutes(1)), "the import never reported progress");

            // Half imported: nobody sees it, and the name is held while the importer's lease is live.
            Assert.Null(await memory.GetBankAsync(target));
            Assert.DoesNotContain(target, (await memory.ListBanksAsync("")).Select(b => b.Name));
            await Assert.ThrowsAsync<BankNotFoundException>(() => memory.Bank(target).RecallAsync(vectors.Gaussian()));
            var held = await Assert.ThrowsAsync<BankConflictException>(() => memory.CreateBankAsync(target, spec));
            Assert.Contains("being imported", held.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<BankConflictException>(() => memory.ImportBankAsync(target, new MemoryStream(export)));

            // The lease runs out with no renewal: the importer is taken for dead, the name is free again.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            Assert.Null(await memory.GetBankAsync(target));
            await memory.CreateBankAsync(target, spec);
            var own = await memory.Bank(target).WriteAsync(vectors.Gaussian(), "new owner", "new owner's memory", true);

            // The stalled importer wakes, fails, and leaves the new bank alone.
            gate.Release();
            await Assert.ThrowsAnyAsync<Exception>(() => import);
            Assert.NotNull(await memory.GetBankAsync(target));
            Assert.Equal(1, (await memory.Bank(target).GetStatsAsync()).Memories);
            Assert.Equal(own.MemoryId, (await memory.Bank(target).GetAsync(own.MemoryId)).Id);
        });
    }

    [Fact]
    public async Task Import_WhoseImporterDies_LeavesNoBank_AcrossARestart_AndTheNameImportsAgainWhole()
    {
        using var file = new SqliteFile("import-dies");
        string source = ClusterFixture.NewBankName("import-dies-src");
        string target = ClusterFixture.NewBankName("import-dies-dst");
        var vectors = new Vectors(89, BankHelpers.Dimension);
        var queries = Enumerable.Range(0, 12).Select(_ => vectors.Gaussian()).ToList();
        byte[] export = [];
        List<string[]> expected = [];
        var lease = TimeSpan.FromSeconds(3);
        using var gate = new StallingProgress(stallAtReport: 3);
        Task? import = null;
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 50), async (memory, _) =>
        {
            export = await SeededExportAsync(memory, source, vectors, 300);
            expected = await RecallAllAsync(memory.Bank(source), queries);
            import = Task.Run(() => memory.ImportBankAsync(target, new MemoryStream(export), new ImportSettings(Lease: lease), gate));
            Assert.True(gate.Reached.Wait(TimeSpan.FromMinutes(1)), "the import never reported progress");
            // The silo stops with the importer in the middle of the stream (some pages in, the rest not).
        });

        gate.Release();
        await Assert.ThrowsAnyAsync<Exception>(() => import!);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 50), async (memory, _) =>
        {
            Assert.Null(await memory.GetBankAsync(target));
            Assert.DoesNotContain(target, (await memory.ListBanksAsync("")).Select(b => b.Name));
            await Assert.ThrowsAsync<BankNotFoundException>(() => memory.Bank(target).RecallAsync(queries[0]));

            await Task.Delay(lease);
            var result = await memory.ImportBankAsync(target, new MemoryStream(export));
            Assert.Equal(300, result.Counts.Memories);
            // Nothing of the dead import is left beside the new one: the same count, the same recalls as the source.
            Assert.Equal(300 - ArchivedBySeed(300), (await memory.Bank(target).GetStatsAsync()).Memories);
            Assert.Equal(expected, await RecallAllAsync(memory.Bank(target), queries));
            Assert.Contains(target, (await memory.ListBanksAsync("")).Select(b => b.Name));
        });
    }

    private static async Task<byte[]> SeededExportAsync(MemoryClient memory, string source, Vectors vectors, int count)
    {
        await memory.CreateBankAsync(source, new BankSpec(BankHelpers.Dimension, "test-embedder", Options, 2, new IndexSettings(Exact: true)));
        await SeedAsync(memory.Bank(source), vectors, count);
        using var stream = new MemoryStream();
        var counts = await memory.ExportBankAsync(source, stream);
        Assert.Equal(count, counts.Memories);
        return stream.ToArray();
    }

    // Blocks the importer's own thread at its n-th progress report, as a process that stops responding would: no page
    // is sent and no lease renewed until the test releases it.
    private sealed class StallingProgress(int stallAtReport) : IProgress<ExportCounts>, IDisposable
    {
        private readonly ManualResetEventSlim _release = new();
        private int _reports;

        public ManualResetEventSlim Reached { get; } = new();

        public void Report(ExportCounts value)
        {
            if (Interlocked.Increment(ref _reports) == stallAtReport)
            {
                Reached.Set();
                _release.Wait();
            }
        }

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _release.Dispose();
            Reached.Dispose();
        }
    }

    // Memories under a few hundred keys, some merged, scoped to two users, rewarded by recalls so Q and visits vary, and
    // every seventh edited between rewards so revisions and edit entries interleave with reward entries in the history.
    // How many of SeedAsync's memories end archived: a fifth at r 32 and another at r 36, a tenth restored at r 36.
    private static int ArchivedBySeed(int count) => Enumerable.Range(0, count).Count(i => i % 5 is 0 or 1 && i % 10 != 0);

    private static async Task<List<string>> SeedAsync(BankClient bank, Vectors vectors, int count)
    {
        var rng = new Random(5);
        var ids = new List<string>();
        for (int i = 0; i < count; i++)
        {
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", i % 3 != 0, operationId: $"seed-{i}",
                scope: new ScopeFields(UserId: i % 2 == 0 ? "alice" : "bob"), metadata: new Dictionary<string, string> { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                ttlSeconds: i % 4 == 1 ? 30 * 86_400 : null)).MemoryId);
        }

        for (int r = 0; r < 40; r++)
        {
            if (r is 10 or 30)
            {
                for (int i = 0; i < ids.Count; i += 7)
                {
                    await bank.EditAsync(ids[i], experience: $"experience {i}, corrected in round {r}", metadata: r == 30 ? new Dictionary<string, string> { ["edited"] = "yes" } : null,
                        operationId: $"seed-edit-{i}-{r}");
                }
            }

            if (r is 32 or 36)
            {
                // Archive state travels too: archived memories (some restored again later), and keys out of the graph.
                // After the edits: an archived memory cannot be edited.
                for (int i = r == 32 ? 0 : 1; i < ids.Count; i += 5)
                {
                    await bank.ArchiveAsync(ids[i], operationId: $"seed-archive-{i}-{r}");
                }

                for (int i = 0; r == 36 && i < ids.Count; i += 10)
                {
                    await bank.RestoreAsync(ids[i], operationId: $"seed-restore-{i}");
                }
            }

            var recall = await bank.RecallAsync(vectors.Gaussian());
            if (recall.Memories.Count > 0)
            {
                await bank.RewardAsync(recall.Token, rng.NextDouble() * 2 - 1);
            }
        }

        return ids;
    }

    // Each recall as (slot|sequence|Q bits|score bits|experience): ids differ between banks, these must not.
    private static async Task<List<string[]>> RecallAllAsync(BankClient bank, List<float[]> queries)
    {
        var results = new List<string[]>();
        foreach (var q in queries)
        {
            var recall = await bank.RecallAsync(q);
            results.Add([.. recall.Memories.Select(m =>
            {
                var id = MemoryId.Parse(m.Id, "id");
                return $"{id.Slot}|{id.Sequence}|{BitConverter.DoubleToInt64Bits(m.Q)}|{BitConverter.DoubleToInt64Bits(m.Score)}|{m.Experience}";
            })]);
        }

        return results;
    }
}
