using AsrService.Core.Pipeline;

namespace AsrService.Core.Tests.Pipeline;

public sealed class DecodeSchedulerTests
{
    [Fact]
    public void TryEnterInterim_FreeSlot_Succeeds()
    {
        var scheduler = new DecodeScheduler(1);

        Assert.True(scheduler.TryEnterInterim(out var lease));
        Assert.Equal(1, scheduler.RunningDecodes);
        lease.Dispose();
        Assert.Equal(0, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task TryEnterInterim_AllSlotsBusy_SkipsWithoutWaiting()
    {
        var scheduler = new DecodeScheduler(2);
        using var first = await scheduler.EnterFinalAsync(CancellationToken.None);
        using var second = await scheduler.EnterFinalAsync(CancellationToken.None);

        Assert.False(scheduler.TryEnterInterim(out _));
        Assert.Equal(1, scheduler.SkippedInterims);
    }

    [Fact]
    public async Task TryEnterInterim_FinalWaiting_YieldsToTheFinal()
    {
        var scheduler = new DecodeScheduler(1);
        var held = await scheduler.EnterFinalAsync(CancellationToken.None);
        var waiting = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
        Assert.Equal(1, scheduler.WaitingFinals);

        held.Dispose();
        // The slot was handed to the waiting final; even in the instant before it runs, an interim may not take it.
        Assert.False(scheduler.TryEnterInterim(out _));
        using var final = await waiting;
        Assert.Equal(0, scheduler.WaitingFinals);
        Assert.Equal(1, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task EnterFinalAsync_MoreFinalsThanSlots_AllCompleteWithAtMostSlotsRunning()
    {
        var scheduler = new DecodeScheduler(2);
        var running = 0;
        var maximum = 0;
        var tasks = Enumerable.Range(0, 20).Select(async _ =>
        {
            using var lease = await scheduler.EnterFinalAsync(CancellationToken.None);
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maximum, now);
            await Task.Delay(5);
            Interlocked.Decrement(ref running);
        });

        await Task.WhenAll(tasks);
        Assert.Equal(2, maximum);
        Assert.Equal(0, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task EnterFinalAsync_Cancelled_ThrowsAndLeavesNoWaiter()
    {
        var scheduler = new DecodeScheduler(1);
        using var held = await scheduler.EnterFinalAsync(CancellationToken.None);
        using var cancellation = new CancellationTokenSource();
        var waiting = scheduler.EnterFinalAsync(cancellation.Token).AsTask();

        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, scheduler.WaitingFinals);
    }

    [Fact]
    public async Task EnterFinalAsync_EverySlotRunningAnInterim_PreemptsTheLatestInterimOnly()
    {
        var scheduler = new DecodeScheduler(2) { PreemptInterimsAfter = TimeSpan.Zero };
        Assert.True(scheduler.TryEnterInterim(out var older));
        Assert.True(scheduler.TryEnterInterim(out var newer));

        var waiting = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();

        Assert.True(newer.Preempted.IsCancellationRequested);
        Assert.False(older.Preempted.IsCancellationRequested);
        Assert.Equal(1, scheduler.PreemptedInterims);
        Assert.False(waiting.IsCompleted);

        // The preempted interim stops and gives its slot to the final.
        newer.Dispose();
        using var final = await waiting;
        Assert.False(final.Preempted.CanBeCanceled);
        older.Dispose();
    }

    [Fact]
    public async Task EnterFinalAsync_TwoFinalsAndTwoInterims_PreemptsBoth()
    {
        var scheduler = new DecodeScheduler(2) { PreemptInterimsAfter = TimeSpan.Zero };
        Assert.True(scheduler.TryEnterInterim(out var first));
        Assert.True(scheduler.TryEnterInterim(out var second));

        var finals = new[] { scheduler.EnterFinalAsync(CancellationToken.None).AsTask(), scheduler.EnterFinalAsync(CancellationToken.None).AsTask() };

        Assert.True(first.Preempted.IsCancellationRequested);
        Assert.True(second.Preempted.IsCancellationRequested);
        Assert.Equal(2, scheduler.PreemptedInterims);
        first.Dispose();
        second.Dispose();
        foreach (var lease in await Task.WhenAll(finals))
        {
            lease.Dispose();
        }

        Assert.Equal(0, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task EnterFinalAsync_ASlotIsFree_LeavesTheRunningInterimAlone()
    {
        var scheduler = new DecodeScheduler(2) { PreemptInterimsAfter = TimeSpan.Zero };
        Assert.True(scheduler.TryEnterInterim(out var interim));

        using (await scheduler.EnterFinalAsync(CancellationToken.None))
        {
            Assert.False(interim.Preempted.IsCancellationRequested);
        }

        // A final that finds the other slot held by a final preempts nothing either, when no interim runs.
        interim.Dispose();
        var held = await scheduler.EnterFinalAsync(CancellationToken.None);
        using var other = await scheduler.EnterFinalAsync(CancellationToken.None);
        var third = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
        Assert.Equal(0, scheduler.PreemptedInterims);
        Assert.False(third.IsCompleted);
        held.Dispose();
        (await third).Dispose();
    }

    [Fact]
    public async Task EnterFinalAsync_InterimEndsWithinTheDelay_IsNotPreempted_OneStillRunningAfterItIs()
    {
        var clock = new ManualClock();
        var scheduler = new DecodeScheduler(1) { PreemptInterimsAfter = TimeSpan.FromMilliseconds(100), TimeProvider = clock };

        // An interim that ends before the delay passes keeps its work.
        Assert.True(scheduler.TryEnterInterim(out var quick));
        var first = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(quick.Preempted.IsCancellationRequested);
        quick.Dispose();
        (await first).Dispose();
        clock.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(0, scheduler.PreemptedInterims);

        // One still running when it passes is stopped.
        Assert.True(scheduler.TryEnterInterim(out var slow));
        var second = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(slow.Preempted.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the interim was not preempted after the delay");
        Assert.Equal(1, scheduler.PreemptedInterims);
        slow.Dispose();
        (await second).Dispose();
    }

    [Fact]
    public async Task EnterFinalAsync_PreemptionOff_WaitsForTheInterim()
    {
        var clock = new ManualClock();
        var scheduler = new DecodeScheduler(1) { PreemptInterimsAfter = null, TimeProvider = clock };
        Assert.True(scheduler.TryEnterInterim(out var interim));

        var final = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromMinutes(1));

        Assert.False(interim.Preempted.IsCancellationRequested);
        Assert.False(final.IsCompleted);
        interim.Dispose();
        (await final).Dispose();
        Assert.Equal(0, scheduler.PreemptedInterims);
    }

    [Fact]
    public async Task GroupFinal_EverySlotRunningAnInterim_PreemptsOne()
    {
        var session = new ImmediateSession();
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, createGroupSession: () => session) { PreemptInterimsAfter = TimeSpan.Zero };
        Assert.True(scheduler.TryEnterInterim(out var interim));

        var final = scheduler.DecodeFinalAsync(null, new AsrService.Core.Vad.SpeechSegment(0, 1_600, new float[1_600]), new(), CancellationToken.None).AsTask();

        Assert.True(interim.Preempted.IsCancellationRequested);
        interim.Dispose();
        Assert.Equal("ok", (await final).Text);
    }

    /// <summary>A clock that moves only when told to; its timers fire on the thread that moves it.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private readonly List<Timer> _timers = [];
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new Timer(this, callback, state);
            timer.Change(dueTime, period);
            return timer;
        }

        public void Advance(TimeSpan by)
        {
            var now = Interlocked.Add(ref _now, by.Ticks);
            List<Timer> due;
            lock (_timers)
            {
                due = _timers.Where(t => t.Due <= now).ToList();
                _timers.RemoveAll(due.Contains);
            }

            due.ForEach(t => t.Fire());
        }

        private sealed class Timer(ManualClock clock, TimerCallback callback, object? state) : ITimer
        {
            public long Due { get; private set; }

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                lock (clock._timers)
                {
                    clock._timers.Remove(this);
                    if (dueTime != Timeout.InfiniteTimeSpan)
                    {
                        Due = clock.GetTimestamp() + dueTime.Ticks;
                        clock._timers.Add(this);
                    }
                }

                return true;
            }

            public void Fire() => callback(state);

            public void Dispose() => Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    private sealed class ImmediateSession : AsrService.Core.Recognition.IRecognizerSession
    {
        public AsrService.Core.Recognition.RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default) =>
            new("ok", [1], 1f);

        public AsrService.Core.Recognition.RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default) =>
            Recognize(samples, cancellationToken);

        public void Dispose()
        {
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
