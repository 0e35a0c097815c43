using System.Diagnostics;

namespace AsrService.Cli.Bench;

/// <summary>The memory of the bench process during one load run, in megabytes (10^6 bytes).</summary>
/// <param name="RssMean">Resident set size, mean of the samples taken while every stream was sending.</param>
/// <param name="RssPeak">Resident set size, largest sample over the whole run.</param>
/// <param name="ManagedPeak">Managed heap (<see cref="GC.GetTotalMemory(bool)"/> without a collection), largest sample: live objects plus garbage not yet collected.</param>
/// <param name="Allocated">Managed memory allocated during the run (all threads), live or not.</param>
/// <param name="Collections">Garbage collections during the run, by generation (0, 1, 2), the forced one included.</param>
/// <param name="Live">With --live-memory: the managed heap after a forced full collection in the middle of the run, which is what the open streams and the process really hold.</param>
internal sealed record MemoryUse(double RssMean, double RssPeak, double ManagedPeak, double Allocated, int[] Collections, LiveHeap? Live);

/// <summary>The managed heap after a full collection, in megabytes, and how much of it is in each part of the heap.</summary>
/// <param name="Total">Everything still reachable.</param>
/// <param name="SmallObjects">Generations 0-2: objects under 85,000 bytes.</param>
/// <param name="LargeObjects">The large-object heap: arrays of 85,000 bytes or more (long audio buffers).</param>
/// <param name="Pinned">The pinned-object heap (the transport's I/O buffer pools).</param>
internal sealed record LiveHeap(double Total, double SmallObjects, double LargeObjects, double Pinned)
{
    /// <summary>Forces a full blocking collection and reads what survived (free space between objects left out).</summary>
    public static LiveHeap Measure()
    {
        var total = GC.GetTotalMemory(forceFullCollection: true);
        var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        double After(int index) => (info.GenerationInfo[index].SizeAfterBytes - info.GenerationInfo[index].FragmentationAfterBytes) / 1e6;
        return new LiveHeap(total / 1e6, After(0) + After(1) + After(2), After(3), After(4));
    }
}

/// <summary>
/// Samples this process's resident set and managed heap four times a second during a load run. With an in-process
/// server that is the server's memory plus the bench client's (its audio set and one call per stream); against
/// --server it is only the client's, so the bench reports it only for an in-process server.
/// </summary>
internal sealed class MemorySampler : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(250);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<double> _steadyRss = [];
    private readonly long _allocatedBefore = GC.GetTotalAllocatedBytes();
    private readonly int[] _collectionsBefore = Collections();
    private double _rssPeak;
    private double _managedPeak;
    private LiveHeap? _live;

    /// <param name="steadyFrom">Run time at which every stream has started sending.</param>
    /// <param name="steadyUntil">Run time at which the first streams may stop sending.</param>
    /// <param name="probeLive">Whether to force one full collection halfway through the steady window and record the live heap.</param>
    public MemorySampler(TimeSpan steadyFrom, TimeSpan steadyUntil, bool probeLive)
    {
        _loop = Task.Run(() => SampleAsync(steadyFrom, steadyUntil, probeLive, _stop.Token));
    }

    /// <summary>Megabytes (10^6 bytes) now resident and now on the managed heap, without a collection.</summary>
    public static (double Rss, double Managed) Now() => (Environment.WorkingSet / 1e6, GC.GetTotalMemory(false) / 1e6);

    /// <summary>Stops sampling and returns what was seen.</summary>
    public async Task<MemoryUse> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        var mean = _steadyRss.Count > 0 ? _steadyRss.Average() : _rssPeak;
        var collections = Collections();
        for (var generation = 0; generation < collections.Length; generation++)
        {
            collections[generation] -= _collectionsBefore[generation];
        }

        return new MemoryUse(mean, _rssPeak, _managedPeak, (GC.GetTotalAllocatedBytes() - _allocatedBefore) / 1e6, collections, _live);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task SampleAsync(TimeSpan steadyFrom, TimeSpan steadyUntil, bool probeLive, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var probeAt = steadyFrom + (steadyUntil - steadyFrom) / 2;
        using var timer = new PeriodicTimer(Period);
        do
        {
            var elapsed = clock.Elapsed;
            if (probeLive && _live is null && elapsed >= probeAt)
            {
                _live = LiveHeap.Measure();
            }

            var (rss, managed) = Now();
            _rssPeak = Math.Max(_rssPeak, rss);
            _managedPeak = Math.Max(_managedPeak, managed);
            if (elapsed >= steadyFrom && elapsed <= steadyUntil)
            {
                _steadyRss.Add(rss);
            }
        }
        while (await Tick(timer, cancellationToken).ConfigureAwait(false));
    }

    private static int[] Collections() => [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];

    private static async Task<bool> Tick(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
