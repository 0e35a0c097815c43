using System.Buffers;

namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>
/// Byte sequences cut into segments at random places, as bytes arrive from a socket: a parser that reads across a
/// segment boundary takes another path than one that sees a single span.
/// </summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(Random random, byte[] data, int maxSegments = 8)
    {
        int cuts = random.Next(Math.Min(maxSegments, data.Length + 1));
        if (cuts == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var positions = new SortedSet<int>();
        for (int i = 0; i < cuts; i++)
        {
            positions.Add(random.Next(data.Length + 1));
        }

        Segment? first = null;
        Segment? last = null;
        int start = 0;
        foreach (int end in positions.Append(data.Length))
        {
            // Each segment gets its own array, as pooled socket buffers would, so no read can run past its end.
            var segment = new Segment(data.AsSpan(start, end - start).ToArray(), last?.RunningIndex + last?.Memory.Length ?? 0);
            last?.SetNext(segment);
            first ??= segment;
            last = segment;
            start = end;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
