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

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
