using System.Diagnostics;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Pipeline;

/// <summary>
/// Decides how many decodes run at once, so that N streams share the cores instead of thrashing them. A final result
/// always gets a slot, in arrival order; an interim result gets one only when a slot is free right now and no final
/// is waiting, otherwise the stream skips that update and tries again at its next interim point. A final that finds
/// every slot busy and still waits after <see cref="PreemptInterimsAfter"/> preempts a running interim
/// (<see cref="Lease.Preempted"/>; the most recently started, which has done the least work), so that no final waits
/// long for an interim. Under load, interims therefore become rarer while finals keep their latency; past the stream
/// limit, new calls are refused (RESOURCE_EXHAUSTED) by the service, never queued here.
/// </summary>
/// <remarks>
/// With <see cref="FinalsPerDecode"/> above 1, finals are decoded in groups (<see cref="IRecognizerSession.RecognizeGroup"/>:
/// one decoder call per token for all of them). A slot that comes free takes the finals waiting then, the oldest
/// first; while it decodes and no other slot is free, finals that arrive join the group between two decoder calls,
/// up to <see cref="FinalsPerDecode"/> decoding at once. A final that a free slot can take starts its own group there
/// instead, on another core. Nothing waits to fill a group. Each result is what a decode of that final alone would
/// give, and is answered as soon as that final's decode ends, not when the group's. A group runs on a session of the
/// scheduler's own (one per slot at most), so that the caller whose wait took the slot gets its answer as early as
/// the others and its stream is free to go on.
/// </remarks>
public sealed class DecodeScheduler
{
    private readonly SemaphoreSlim _slots;
    private readonly List<PendingFinal> _pending = [];
    private readonly Func<IRecognizerSession>? _createGroupSession;
    private readonly System.Collections.Concurrent.ConcurrentBag<IRecognizerSession> _groupSessions = [];
    private readonly List<CancellationTokenSource> _runningInterims = [];
    private int _waitingFinals;
    private long _skippedInterims;
    private long _preemptedInterims;
    private long _groups;
    private long _groupedFinals;
    private long _decodedFinals;
    private long _earlyFinals;
    private long _droppedEarlyFinals;

    /// <param name="concurrentDecodes">Decodes that may run at the same time; each uses the recognizer's intra-op threads.</param>
    /// <param name="finalsPerDecode">Most finals one slot decodes together (1: each alone).</param>
    /// <param name="createGroupSession">Makes the sessions that groups decode on; required when <paramref name="finalsPerDecode"/> is above 1.</param>
    public DecodeScheduler(int concurrentDecodes, int finalsPerDecode = 1, Func<IRecognizerSession>? createGroupSession = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrentDecodes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(finalsPerDecode, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(finalsPerDecode, MaxFinalsPerDecode);
        if (finalsPerDecode > 1 && createGroupSession is null)
        {
            throw new ArgumentNullException(nameof(createGroupSession), "group decoding needs sessions of its own");
        }

        ConcurrentDecodes = concurrentDecodes;
        FinalsPerDecode = finalsPerDecode;
        _createGroupSession = createGroupSession;
        _slots = new SemaphoreSlim(concurrentDecodes, concurrentDecodes);
    }

    /// <summary>
    /// The default <see cref="PreemptInterimsAfter"/>: at once. Measured under load (8 base streams, 22 tiny streams
    /// with interims), it cut the p95 of finals' waits for a slot from 165-192 ms to 16-27 ms (base) and from
    /// 165-177 ms to 60-71 ms (tiny); tiny's streams then got about 9 % fewer interims. A 100 ms delay gave
    /// about 105 ms (benchmarks/results/2026-11-22-interim-preemption.md).
    /// </summary>
    public static readonly TimeSpan DefaultPreemptInterimsAfter = TimeSpan.Zero;

    /// <summary>
    /// How long a final that finds every slot busy waits before it stops a running interim; zero: at once; null:
    /// never. An interim that ends within the delay keeps its work; the final waits about this much longer at most.
    /// </summary>
    public TimeSpan? PreemptInterimsAfter { get; init; } = DefaultPreemptInterimsAfter;

    /// <summary>The clock of <see cref="PreemptInterimsAfter"/> (tests replace it).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The largest <see cref="FinalsPerDecode"/>.</summary>
    public const int MaxFinalsPerDecode = 16;

    public int ConcurrentDecodes { get; }

    public int FinalsPerDecode { get; }

    /// <summary>Group decodes run that decoded two finals or more (counting those that joined).</summary>
    public long Groups => Interlocked.Read(ref _groups);

    /// <summary>Finals decoded in those groups.</summary>
    public long GroupedFinals => Interlocked.Read(ref _groupedFinals);

    /// <summary>Finals decoded through <see cref="DecodeFinalAsync"/>, alone or in groups of any size (including those
    /// whose result was empty, which a stream does not send).</summary>
    public long DecodedFinals => Interlocked.Read(ref _decodedFinals);

    /// <summary>
    /// Of <see cref="DecodedFinals"/>, those that streams decoded early, during their segment's closing silence
    /// (<see cref="StreamingOptions.EarlyFinals"/>).
    /// </summary>
    public long EarlyFinals => Interlocked.Read(ref _earlyFinals);

    /// <summary>Of <see cref="EarlyFinals"/>, those dropped because speech resumed (the decode was spent for nothing).</summary>
    public long DroppedEarlyFinals => Interlocked.Read(ref _droppedEarlyFinals);

    /// <summary>Finals waiting for a slot now.</summary>
    public int WaitingFinals => Volatile.Read(ref _waitingFinals);

    /// <summary>Decodes running now.</summary>
    public int RunningDecodes => ConcurrentDecodes - _slots.CurrentCount;

    /// <summary>Interim updates skipped because every slot was busy or a final was waiting.</summary>
    public long SkippedInterims => Interlocked.Read(ref _skippedInterims);

    /// <summary>Running interim decodes told to stop because a final found every slot busy.</summary>
    public long PreemptedInterims => Interlocked.Read(ref _preemptedInterims);

    /// <summary>
    /// Raised for every final as it gets a decode slot or joins a running group, with how long it waited for that
    /// since it asked (for a stream, its segment's close, or the moment its audio was complete for an early final):
    /// the queueing part of a final's latency. Handlers run on the scheduler's callers' threads and must be quick.
    /// </summary>
    public event Action<TimeSpan>? FinalWaited;

    internal void CountEarlyFinal() => Interlocked.Increment(ref _earlyFinals);

    internal void CountDroppedEarlyFinal() => Interlocked.Increment(ref _droppedEarlyFinals);

    /// <summary>Waits for a slot for a final decode.</summary>
    public async ValueTask<Lease> EnterFinalAsync(CancellationToken cancellationToken)
    {
        var asked = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _waitingFinals);
        try
        {
            var slot = _slots.WaitAsync(cancellationToken);
            PreemptAnInterimIfStillWaiting(() => !slot.IsCompleted);
            await slot.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waitingFinals);
        }

        FinalWaited?.Invoke(Stopwatch.GetElapsedTime(asked));
        return new Lease(this, null);
    }

    /// <summary>
    /// Decodes a closed segment's final (<see cref="SegmentDecoding.DecodeFinal"/>): alone in the next free slot, on
    /// the caller's <paramref name="session"/>, when <see cref="FinalsPerDecode"/> is 1; otherwise in a group on one
    /// of the scheduler's own sessions, which it starts in the next free slot with the other finals waiting then, or
    /// joins while no slot is free (the caller's session is then not used, and may be null). Every caller's session
    /// is idle while it waits here. Cancelling stops this caller's wait; a group already running finishes for the
    /// others.
    /// </summary>
    public async ValueTask<RecognitionResult> DecodeFinalAsync(
        IRecognizerSession? session, SpeechSegment segment, VadOptions vad, CancellationToken cancellationToken)
    {
        if (FinalsPerDecode == 1)
        {
            ArgumentNullException.ThrowIfNull(session);
            using var lease = await EnterFinalAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _decodedFinals);
            return SegmentDecoding.DecodeFinal(session, segment, vad, cancellationToken);
        }

        var mine = new PendingFinal(segment, vad);
        lock (_pending)
        {
            _pending.Add(mine);
        }

        Interlocked.Increment(ref _waitingFinals);
        using var stopWaiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var slot = _slots.WaitAsync(stopWaiting.Token);
        PreemptAnInterimIfStillWaiting(() => !slot.IsCompleted && !mine.Taken);
        try
        {
            await Task.WhenAny(slot, mine.Result.Task).ConfigureAwait(false);
        }
        finally
        {
            if (!slot.IsCompleted)
            {
                stopWaiting.Cancel();
            }
        }

        bool haveSlot;
        try
        {
            await slot.ConfigureAwait(false);
            haveSlot = true;
        }
        catch (OperationCanceledException)
        {
            haveSlot = false;
        }

        List<PendingFinal>? group = null;
        lock (_pending)
        {
            if (!mine.Taken && haveSlot)
            {
                group = TakeGroup(mine);
            }
            else if (!mine.Taken)
            {
                // Cancelled before any slot or group took it.
                Withdraw([mine]);
            }
        }

        ReportWaits(group);
        if (group is null)
        {
            if (haveSlot)
            {
                _slots.Release();
            }

            cancellationToken.ThrowIfCancellationRequested();
            return await mine.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        // The group holds the slot until its last final ends, and finals that arrive meanwhile join it; this caller
        // waits only for its own.
        _ = Task.Run(() =>
        {
            IRecognizerSession? groupSession = null;
            try
            {
                groupSession = _groupSessions.TryTake(out var idle) ? idle : _createGroupSession!();
                DecodeGroup(groupSession, group);
            }
            catch (Exception e)
            {
                group.ForEach(pending => pending.Result.TrySetException(e));
            }
            finally
            {
                if (groupSession is not null)
                {
                    _groupSessions.Add(groupSession);
                }

                _slots.Release();
            }
        }, CancellationToken.None);
        return await mine.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The oldest waiting finals, <paramref name="mine"/> always among them; called under the lock.</summary>
    private List<PendingFinal> TakeGroup(PendingFinal mine)
    {
        var group = new List<PendingFinal>(FinalsPerDecode);
        var others = 0;
        var haveMine = false;
        foreach (var pending in _pending)
        {
            if (pending == mine)
            {
                group.Add(mine);
                haveMine = true;
            }
            else if (others < FinalsPerDecode - 1)
            {
                group.Add(pending);
                others++;
            }
            else if (haveMine)
            {
                break;
            }
        }

        Withdraw(group);
        return group;
    }

    /// <summary>Takes <paramref name="finals"/> out of the waiting list (into a group, or cancelled); called under the lock.</summary>
    private void Withdraw(List<PendingFinal> finals)
    {
        foreach (var pending in finals)
        {
            pending.Taken = true;
            _pending.Remove(pending);
        }

        Interlocked.Add(ref _waitingFinals, -finals.Count);
    }

    private void DecodeGroup(IRecognizerSession session, List<PendingFinal> group)
    {
        IReadOnlyList<RecognitionResult>? results = null;
        var reported = 0;
        try
        {
            // A result that needs no second decode is answered as soon as its row ends, while longer members of the
            // group are still decoding. Finals that wait for a slot meanwhile join the group instead, up to
            // FinalsPerDecode decoding at once.
            results = session.RecognizeGroup(
                group.ConvertAll(p => p.Segment.Samples),
                (i, result) =>
                {
                    reported++;
                    if (!SegmentDecoding.NeedsRetry(group[i].Segment, group[i].Vad, result, out _))
                    {
                        group[i].Result.TrySetResult(result);
                    }
                },
                room =>
                {
                    var joining = TakeJoining(Math.Min(room, FinalsPerDecode - (group.Count - reported)));
                    group.AddRange(joining);
                    return joining.ConvertAll(p => p.Segment.Samples);
                },
                CancellationToken.None);
        }
        catch (Exception)
        {
            // Decode alone below each final not answered yet, so that whatever failed fails only its own final.
        }

        Interlocked.Add(ref _decodedFinals, group.Count);
        if (group.Count > 1)
        {
            Interlocked.Increment(ref _groups);
            Interlocked.Add(ref _groupedFinals, group.Count);
        }

        for (var i = 0; i < group.Count; i++)
        {
            var pending = group[i];
            if (pending.Result.Task.IsCompleted)
            {
                continue;
            }

            try
            {
                pending.Result.TrySetResult(results is null
                    ? SegmentDecoding.DecodeFinal(session, pending.Segment, pending.Vad, CancellationToken.None)
                    : SegmentDecoding.RetryIfEmpty(session, pending.Segment, pending.Vad, results[i], CancellationToken.None));
            }
            catch (Exception e)
            {
                pending.Result.TrySetException(e);
            }
        }
    }

    /// <summary>Takes up to <paramref name="count"/> of the oldest waiting finals into a running group.</summary>
    private List<PendingFinal> TakeJoining(int count)
    {
        // A final that a free slot can take starts a group of its own, on another core.
        var joining = new List<PendingFinal>();
        if (count <= 0 || Volatile.Read(ref _waitingFinals) == 0 || _slots.CurrentCount > 0)
        {
            return joining;
        }

        lock (_pending)
        {
            joining.AddRange(_pending.Take(count));
            Withdraw(joining);
        }

        ReportWaits(joining);
        return joining;
    }

    private void ReportWaits(List<PendingFinal>? taken)
    {
        if (taken is not null && FinalWaited is { } handlers)
        {
            taken.ForEach(pending => handlers(Stopwatch.GetElapsedTime(pending.Asked)));
        }
    }

    private sealed class PendingFinal(SpeechSegment segment, VadOptions vad)
    {
        public SpeechSegment Segment { get; } = segment;

        public VadOptions Vad { get; } = vad;

        public long Asked { get; } = Stopwatch.GetTimestamp();

        public TaskCompletionSource<RecognitionResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Taken into a group (or withdrawn); written under the pending list's lock.</summary>
        public bool Taken
        {
            get => Volatile.Read(ref _taken);
            set => Volatile.Write(ref _taken, value);
        }

        private bool _taken;
    }

    /// <summary>Waits for a slot for a final decode, blocking the thread (for synchronous callers).</summary>
    public Lease EnterFinal(CancellationToken cancellationToken) => EnterFinalAsync(cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Takes a slot for an interim decode if one is free and no final is waiting; never waits. The decode should stop
    /// soon after the lease's <see cref="Lease.Preempted"/> token is cancelled: a final needs the slot.
    /// </summary>
    public bool TryEnterInterim(out Lease lease)
    {
        if (Volatile.Read(ref _waitingFinals) == 0 && _slots.Wait(0))
        {
            var preemption = new CancellationTokenSource();
            lock (_runningInterims)
            {
                _runningInterims.Add(preemption);
            }

            lease = new Lease(this, preemption);

            // A final that began waiting between the check above and the registration may have looked for an interim
            // to preempt before this one was listed: give the slot back to it.
            if (Volatile.Read(ref _waitingFinals) == 0)
            {
                return true;
            }

            lease.Dispose();
        }

        Interlocked.Increment(ref _skippedInterims);
        lease = default;
        return false;
    }

    /// <summary>
    /// Called by each final that starts waiting: if it still waits after <see cref="PreemptInterimsAfter"/>, preempts
    /// an interim.
    /// </summary>
    private void PreemptAnInterimIfStillWaiting(Func<bool> stillWaiting)
    {
        if (PreemptInterimsAfter is not { } delay || !stillWaiting())
        {
            return;
        }

        if (delay <= TimeSpan.Zero)
        {
            PreemptAnInterimIfNoSlotIsFree();
            return;
        }

        _ = Task.Delay(delay, TimeProvider).ContinueWith(
            _ =>
            {
                if (stillWaiting())
                {
                    PreemptAnInterimIfNoSlotIsFree();
                }
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// When every slot is busy, cancels the most recently started interim not yet preempted (one per waiting final,
    /// so that two finals free two slots, not one).
    /// </summary>
    private void PreemptAnInterimIfNoSlotIsFree()
    {
        if (_slots.CurrentCount > 0)
        {
            return;
        }

        lock (_runningInterims)
        {
            for (var i = _runningInterims.Count - 1; i >= 0; i--)
            {
                if (!_runningInterims[i].IsCancellationRequested)
                {
                    _runningInterims[i].Cancel();
                    Interlocked.Increment(ref _preemptedInterims);
                    return;
                }
            }
        }
    }

    private void EndInterim(CancellationTokenSource preemption)
    {
        lock (_runningInterims)
        {
            _runningInterims.Remove(preemption);
        }

        preemption.Dispose();
    }

    /// <summary>A held slot; disposing it frees the slot.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly DecodeScheduler? _scheduler;
        private readonly CancellationTokenSource? _preemption;

        /// <param name="preemption">For an interim, the source of <see cref="Preempted"/>; null for a final.</param>
        internal Lease(DecodeScheduler scheduler, CancellationTokenSource? preemption)
        {
            _scheduler = scheduler;
            _preemption = preemption;
        }

        /// <summary>For an interim: cancelled when a final needs this slot (never cancelled for a final).</summary>
        public CancellationToken Preempted => _preemption?.Token ?? CancellationToken.None;

        public void Dispose()
        {
            if (_preemption is not null)
            {
                _scheduler!.EndInterim(_preemption);
            }

            _scheduler?._slots.Release();
        }
    }
}
