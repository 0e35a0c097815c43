using AsrService.Cli.Bench;

namespace AsrService.Integration.Tests;

/// <summary>The order in which an <c>asr bench</c> stream plays the audio set.</summary>
public sealed class BenchPlaylistTests
{
    private const int Count = 60;

    [Fact]
    public void EveryPass_PlaysEachUtteranceOnce_AfterAFirstPassThatStartsPartWay()
    {
        var playlist = new Playlist(Count, seed: 1, stream: 3);
        var first = Take(playlist, Count - playlist.FirstPassStart);
        Assert.Equal(first.Length, first.Distinct().Count());
        for (var pass = 0; pass < 3; pass++)
        {
            var played = Take(playlist, Count);
            Assert.Equal(Enumerable.Range(0, Count), played.Order());
        }
    }

    [Fact]
    public void Streams_EndTheirPassesAtDifferentPoints_AndVaryTheirGaps()
    {
        // Streams that all end a pass together all end an utterance together: a burst of finals every cycle.
        var starts = Enumerable.Range(0, 46).Select(stream => new Playlist(Count, seed: 1, stream).FirstPassStart).ToList();
        Assert.All(starts, s => Assert.InRange(s, 0, Count - 1));
        Assert.True(starts.Distinct().Count() >= 20, $"only {starts.Distinct().Count()} distinct first-pass starts over 46 streams");

        var playlist = new Playlist(Count, seed: 1, stream: 0);
        var gaps = Enumerable.Range(0, 200).Select(_ => playlist.NextGap(32_000)).ToList();
        Assert.All(gaps, g => Assert.InRange(g, 16_000, 48_000));
        Assert.InRange(gaps.Average(), 28_000, 36_000);
        Assert.True(gaps.Distinct().Count() > 100, "gaps barely vary");
        Assert.Equal(0, new Playlist(Count, seed: 1, stream: 0).NextGap(0));
    }

    [Fact]
    public void SameSeedAndStream_ReplayTheSameOrder_OtherSeedsAndStreamsDoNot()
    {
        var first = Take(new Playlist(Count, seed: 7, stream: 2), 3 * Count);

        Assert.Equal(first, Take(new Playlist(Count, seed: 7, stream: 2), 3 * Count));
        Assert.NotEqual(first, Take(new Playlist(Count, seed: 8, stream: 2), 3 * Count));
        Assert.NotEqual(first, Take(new Playlist(Count, seed: 7, stream: 3), 3 * Count));
    }

    [Fact]
    public void Streams_DoNotShareOneCyclicOrder()
    {
        // With one cyclic order shared by all streams (each starting at a different place), the utterance that follows
        // a given one is the same on every stream and in every pass.
        var reference = Successors(Take(new Playlist(Count, seed: 1, stream: 0), 2 * Count));
        for (var stream = 1; stream < 8; stream++)
        {
            var passes = Take(new Playlist(Count, seed: 1, stream), 2 * Count);
            var shared = Successors(passes).Count(reference.Contains);
            Assert.True(shared < Count / 2, $"stream {stream} follows stream 0's order in {shared} of {passes.Length - 1} places");
            Assert.NotEqual(passes[..Count], passes[Count..]);
        }
    }

    private static HashSet<(int, int)> Successors(int[] played) => played.Zip(played.Skip(1)).ToHashSet();

    [Fact]
    public void EmptyAudioSet_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Playlist(0, seed: 1, stream: 0));

    private static int[] Take(Playlist playlist, int n) => Enumerable.Range(0, n).Select(_ => playlist.Next()).ToArray();
}
