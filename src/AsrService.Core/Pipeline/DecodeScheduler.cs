namespace AsrService.Core.Pipeline;

/// <summary>
/// Decides how many decodes run at once, so that N streams share the cores instead of thrashing them. A final result
/// always gets a slot, in arrival order; an interim result gets one only when a slot is free right now and no final
/// is waiting, otherwise the stream skips that update and tries again at its next interim point. Under load,
/// interims therefore become rarer while finals keep their latency; past the stream limit, new calls are refused
/// (RESOURCE_EXHAUSTED) by the service, never queued here.
/// </summary>
public sealed class DecodeScheduler
{
    private readonly SemaphoreSlim _slots;
    private int _waitingFinals;
    private long _skippedInterims;

    /// <param name="concurrentDecodes">Decodes that may run at the same time; each uses the recognizer's intra-op threads.</param>
    public DecodeScheduler(int concurrentDecodes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrentDecodes, 1);
        ConcurrentDecodes = concurrentDecodes;
        _slots = new SemaphoreSlim(concurrentDecodes, concurrentDecodes);
    }

    public int ConcurrentDecodes { get; }

    /// <summary>Finals waiting for a slot now.</summary>
    public int WaitingFinals => Volatile.Read(ref _waitingFinals);

    /// <summary>Decodes running now.</summary>
    public int RunningDecodes => ConcurrentDecodes - _slots.CurrentCount;

    /// <summary>Interim updates skipped because every slot was busy or a final was waiting.</summary>
    public long SkippedInterims => Interlocked.Read(ref _skippedInterims);

    /// <summary>Waits for a slot for a final decode.</summary>
    public async ValueTask<Lease> EnterFinalAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waitingFinals);
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waitingFinals);
        }

        return new Lease(_slots);
    }

    /// <summary>Waits for a slot for a final decode, blocking the thread (for synchronous callers).</summary>
    public Lease EnterFinal(CancellationToken cancellationToken) => EnterFinalAsync(cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <summary>Takes a slot for an interim decode if one is free and no final is waiting; never waits.</summary>
    public bool TryEnterInterim(out Lease lease)
    {
        if (Volatile.Read(ref _waitingFinals) == 0 && _slots.Wait(0))
        {
            lease = new Lease(_slots);
            return true;
        }

        Interlocked.Increment(ref _skippedInterims);
        lease = default;
        return false;
    }

    /// <summary>A held slot; disposing it frees the slot.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly SemaphoreSlim? _slots;

        internal Lease(SemaphoreSlim slots) => _slots = slots;

        public void Dispose() => _slots?.Release();
    }
}
