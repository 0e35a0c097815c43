using System.Collections.Concurrent;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Pipeline;

/// <summary>Finals that wait together decoded as one group (<see cref="DecodeScheduler.FinalsPerDecode"/> above 1).</summary>
public sealed class DecodeSchedulerGroupTests
{
    private static readonly VadOptions s_vad = new();

    [Fact]
    public async Task DecodeFinalAsync_FinalsWaitingWhenASlotFrees_AreDecodedTogetherOldestFirstAndTheRestJoinAsRowsEnd()
    {
        var session = new CountingSession();
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => session);
        var finals = await QueueBehindTheOnlySlot(scheduler, session, 1000, 2000, 3000, 4000, 5000, 6000);
        var results = await Task.WhenAll(finals);

        // The four oldest start; 5000 and 6000 join as 1000 and 2000 end, never more than four decoding at once.
        Assert.Equal(["1000", "2000", "3000", "4000", "5000", "6000"], results.Select(r => r.Text));
        var group = Assert.Single(session.Groups);
        Assert.Equal([1000, 2000, 3000, 4000], group.Started);
        Assert.Equal([5000, 6000], group.Joined);
        Assert.Equal(4, group.MostDecodingAtOnce);
        Assert.Equal(1, scheduler.Groups);
        Assert.Equal(6, scheduler.GroupedFinals);
        Assert.Equal(6, scheduler.DecodedFinals);
        Assert.Equal(0, scheduler.WaitingFinals);
        Assert.Equal(0, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task DecodeFinalAsync_FinalArrivingWhileAGroupDecodesAndNoSlotIsFree_JoinsTheGroup()
    {
        var groupSession = new CountingSession { PauseAfter = new Pause(0) };
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => groupSession);
        var session = new CountingSession();
        var finals = await QueueBehindTheOnlySlot(scheduler, session, 1000, 3000);
        Assert.True(groupSession.PauseAfter!.Reached.Wait(TimeSpan.FromSeconds(30)), "the group never reported its first final");

        var late = scheduler.DecodeFinalAsync(session, Segment(2000), s_vad, CancellationToken.None).AsTask();
        while (scheduler.WaitingFinals < 1)
        {
            await Task.Yield();
        }

        groupSession.PauseAfter.Resume.Set();
        Assert.Equal("2000", (await late).Text);
        Assert.Equal(["1000", "3000"], (await Task.WhenAll(finals)).Select(r => r.Text));
        var group = Assert.Single(groupSession.Groups);
        Assert.Equal([2000], group.Joined);
        Assert.Equal(3, scheduler.GroupedFinals);
        Assert.Equal(0, session.Alone + groupSession.Alone);
    }

    [Fact]
    public async Task FinalWaited_EveryFinalReportsItsWaitOnce_WhetherItStartsAGroupOrJoinsOne()
    {
        var session = new CountingSession();
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => session);
        var waits = new ConcurrentQueue<TimeSpan>();
        scheduler.FinalWaited += waits.Enqueue;

        await Task.WhenAll(await QueueBehindTheOnlySlot(scheduler, session, 1000, 2000, 3000, 4000, 5000, 6000));

        // The lease that held the slot, then the six finals: four starting the group, two joining it.
        Assert.Equal(7, waits.Count);
        Assert.Equal(6, scheduler.GroupedFinals);
    }

    [Fact]
    public async Task DecodeFinalAsync_NothingElseWaiting_StartsAtOnceWithoutWaitingToFillAGroup()
    {
        var session = new CountingSession();
        var scheduler = new DecodeScheduler(2, finalsPerDecode: 8, () => session);

        var result = await scheduler.DecodeFinalAsync(session, Segment(3000), s_vad, CancellationToken.None);

        Assert.Equal("3000", result.Text);
        Assert.Equal([3000], Assert.Single(session.Groups).Started);
        Assert.Equal(0, session.Alone);
        Assert.Equal(0, scheduler.Groups);
        Assert.Equal(1, scheduler.DecodedFinals);
    }

    [Fact]
    public async Task DecodeFinalAsync_GroupFails_DecodesEachAloneSoThatOnlyTheFailingFinalFails()
    {
        var session = new CountingSession { FailingLength = 2000 };
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => session);
        var finals = await QueueBehindTheOnlySlot(scheduler, session, 1000, 2000, 3000);

        Assert.Equal("1000", (await finals[0]).Text);
        await Assert.ThrowsAsync<InvalidDataException>(() => finals[1]);
        Assert.Equal("3000", (await finals[2]).Text);
        Assert.Equal(0, scheduler.RunningDecodes);
    }

    [Fact]
    public async Task DecodeFinalAsync_CancelledWhileWaiting_IsWithdrawnAndTheOthersAreDecoded()
    {
        var session = new CountingSession();
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => session);
        var held = await scheduler.EnterFinalAsync(CancellationToken.None);
        using var cancellation = new CancellationTokenSource();
        var cancelled = scheduler.DecodeFinalAsync(session, Segment(1000), s_vad, cancellation.Token).AsTask();
        var kept = scheduler.DecodeFinalAsync(session, Segment(2000), s_vad, CancellationToken.None).AsTask();
        while (scheduler.WaitingFinals < 2)
        {
            await Task.Yield();
        }

        cancellation.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        held.Dispose();

        Assert.Equal("2000", (await kept).Text);
        Assert.DoesNotContain(session.Groups, g => g.Started.Contains(1000) || g.Joined.Contains(1000));
        Assert.Equal(0, scheduler.WaitingFinals);
    }

    [Theory]
    [InlineData(3000, 1000)]
    [InlineData(1000, 3000)]
    public async Task DecodeFinalAsync_ShortFinalOfAGroup_IsAnsweredBeforeTheGroupEnds(int first, int second)
    {
        // Whichever of the two callers takes the slot, the group runs on a session of the scheduler's own, so the
        // short final's caller has its answer while the long one is still decoding.
        var session = new CountingSession { PauseAfter = new Pause(first < second ? 0 : 1) };
        var groupSession = new CountingSession { PauseAfter = session.PauseAfter };
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => groupSession);
        var finals = await QueueBehindTheOnlySlot(scheduler, session, first, second);
        var shortFinal = finals[first < second ? 0 : 1];
        var longFinal = finals[first < second ? 1 : 0];

        Assert.True(session.PauseAfter!.Reached.Wait(TimeSpan.FromSeconds(30)), "the group never reported the short final");
        Assert.Equal("1000", (await shortFinal.WaitAsync(TimeSpan.FromSeconds(30))).Text);
        Assert.False(longFinal.IsCompleted);
        Assert.Equal(1, scheduler.RunningDecodes);

        session.PauseAfter.Resume.Set();
        Assert.Equal("3000", (await longFinal).Text);
        Assert.Empty(session.Groups);
        Assert.Single(groupSession.Groups);
        Assert.Equal(0, groupSession.Alone);
        while (scheduler.RunningDecodes > 0)
        {
            await Task.Yield();
        }
    }

    [Fact]
    public async Task DecodeFinalAsync_GroupFailsAfterAnsweringOne_KeepsThatAnswerAndDecodesOnlyTheRestAlone()
    {
        var session = new CountingSession { FailingLength = 3000 };
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, () => session);
        var finals = await QueueBehindTheOnlySlot(scheduler, session, 3000, 1000, 2000);

        // The group answers 1000 and 2000 (shortest first), then throws on 3000: only 3000 is retried alone, and fails.
        await Assert.ThrowsAsync<InvalidDataException>(() => finals[0]);
        Assert.Equal("1000", (await finals[1]).Text);
        Assert.Equal("2000", (await finals[2]).Text);
        Assert.Equal(1, session.Alone);
    }

    [Fact]
    public void Constructor_FinalsPerDecodeOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeScheduler(1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeScheduler(1, DecodeScheduler.MaxFinalsPerDecode + 1));
        Assert.Throws<ArgumentNullException>(() => new DecodeScheduler(1, 2));
    }

    private static SpeechSegment Segment(int samples) => new(0, samples, new float[samples]);

    /// <summary>
    /// Holds the scheduler's only slot while finals of these lengths queue for it, one after another (so the queue
    /// keeps this order), then frees it: the waiting finals are then decoded as groups.
    /// </summary>
    private static async Task<Task<RecognitionResult>[]> QueueBehindTheOnlySlot(DecodeScheduler scheduler, IRecognizerSession session, params int[] lengths)
    {
        var held = await scheduler.EnterFinalAsync(CancellationToken.None);
        var finals = new Task<RecognitionResult>[lengths.Length];
        for (var i = 0; i < lengths.Length; i++)
        {
            finals[i] = scheduler.DecodeFinalAsync(session, Segment(lengths[i]), s_vad, CancellationToken.None).AsTask();
            while (scheduler.WaitingFinals < i + 1)
            {
                await Task.Yield();
            }
        }

        held.Dispose();
        return finals;
    }

    private sealed record Pause(int Index)
    {
        public ManualResetEventSlim Reached { get; } = new();

        public ManualResetEventSlim Resume { get; } = new();
    }

    /// <summary>The lengths of a group's segments: those it started with and those that joined it.</summary>
    private sealed record GroupRecord(int[] Started)
    {
        public List<int> Joined { get; } = [];

        public int MostDecodingAtOnce { get; set; }
    }

    /// <summary>Answers each segment with its length; records which segments were decoded together.</summary>
    private sealed class CountingSession : IRecognizerSession
    {
        public ConcurrentQueue<GroupRecord> Groups { get; } = new();

        public int Alone;

        public int FailingLength { get; init; } = -1;

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Alone);
            return Answer(samples.Length);
        }

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default) =>
            Recognize(samples, cancellationToken);

        public IReadOnlyList<RecognitionResult> RecognizeGroup(
            IReadOnlyList<ReadOnlyMemory<float>> segments, Action<int, RecognitionResult>? onResult = null,
            Func<int, IReadOnlyList<ReadOnlyMemory<float>>>? joining = null, CancellationToken cancellationToken = default)
        {
            var group = new GroupRecord(segments.Select(s => s.Length).ToArray());
            Groups.Enqueue(group);
            var all = segments.ToList();
            var results = new List<RecognitionResult?>(all.Select(_ => (RecognitionResult?)null));
            var decoding = Enumerable.Range(0, all.Count).ToList();
            group.MostDecodingAtOnce = decoding.Count;

            // Shortest first, as a batched decoder's rows end; after each, segments may join (at most 16 decoding).
            while (decoding.Count > 0)
            {
                var i = decoding.MinBy(i => all[i].Length);
                decoding.Remove(i);
                results[i] = Answer(all[i].Length);
                onResult?.Invoke(i, results[i]!);
                if (i == PauseAfter?.Index)
                {
                    PauseAfter.Reached.Set();
                    PauseAfter.Resume.Wait();
                }

                foreach (var joined in joining?.Invoke(16 - decoding.Count) ?? [])
                {
                    group.Joined.Add(joined.Length);
                    decoding.Add(all.Count);
                    all.Add(joined);
                    results.Add(null);
                }

                group.MostDecodingAtOnce = Math.Max(group.MostDecodingAtOnce, decoding.Count);
            }

            return results.ConvertAll(r => r!);
        }

        /// <summary>Makes the group stop after reporting result Index, until Resume is set.</summary>
        public Pause? PauseAfter { get; init; }

        private RecognitionResult Answer(int length) =>
            length == FailingLength ? throw new InvalidDataException("bad segment") : new RecognitionResult(length.ToString(), [length], 1f);

        public void Dispose()
        {
        }
    }
}
