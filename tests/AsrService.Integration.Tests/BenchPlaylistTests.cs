using AsrService.Cli.Bench;

namespace AsrService.Integration.Tests;

/// <summary>The order in which an <c>asr bench</c> stream plays the audio set.</summary>
public sealed class BenchPlaylistTests
{
    private const int Count = 60;

    [Fact]
    public void EveryPass_PlaysEachUtteranceOnce()
    {
        var playlist = new Playlist(Count, seed: 1, stream: 3);
        for (var pass = 0; pass < 3; pass++)
        {
            var played = Take(playlist, Count);
            Assert.Equal(Enumerable.Range(0, Count), played.Order());
        }
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
        var reference = Successors(Take(new Playlist(Count, seed: 1, stream: 0), Count));
        for (var stream = 1; stream < 8; stream++)
        {
            var passes = Take(new Playlist(Count, seed: 1, stream), 2 * Count);
            var shared = Successors(passes[..Count]).Count(reference.Contains);
            Assert.True(shared < Count / 4, $"stream {stream} follows stream 0's order in {shared} of {Count - 1} places");
            Assert.NotEqual(passes[..Count], passes[Count..]);
        }
    }

    private static HashSet<(int, int)> Successors(int[] played) => played.Zip(played.Skip(1)).ToHashSet();

    [Fact]
    public void EmptyAudioSet_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Playlist(0, seed: 1, stream: 0));

    private static int[] Take(Playlist playlist, int n) => Enumerable.Range(0, n).Select(_ => playlist.Next()).ToArray();
}
