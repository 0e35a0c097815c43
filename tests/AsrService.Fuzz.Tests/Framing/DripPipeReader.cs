using System.Buffers;
using System.IO.Pipelines;

namespace AsrService.Fuzz.Tests.Framing;

/// <summary>
/// A request body arriving in pieces, synchronously and reproducibly: each read that follows one which examined
/// everything reveals a random number of further bytes, as DATA frames would, until the end, which it reports as
/// completed. So a framing reader sees headers and payloads split at every possible place without threads or timing.
/// </summary>
internal sealed class DripPipeReader : PipeReader
{
    private readonly ReadOnlySequence<byte> _data;
    private readonly Random _random;
    private long _consumed;
    private long _revealed;
    private bool _examinedAll = true;
    private int _readsAtEnd;

    public DripPipeReader(ReadOnlySequence<byte> data, int seed)
    {
        _data = data;
        _random = new Random(seed);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_examinedAll && _revealed < _data.Length)
        {
            long step = _random.Next(3) switch
            {
                0 => 1 + _random.Next(5),
                1 => 1 + _random.Next(512),
                _ => _data.Length,
            };
            _revealed = Math.Min(_data.Length, _revealed + step);
        }
        else if (_examinedAll && ++_readsAtEnd > 2)
        {
            // A reader that examined everything after the end was reported keeps asking: it would wait forever on a
            // real pipe.
            throw new InvalidOperationException("the framing reader read again after examining a completed body");
        }

        _examinedAll = false;
        result = new ReadResult(_data.Slice(_consumed, _revealed - _consumed), isCanceled: false, isCompleted: _revealed == _data.Length);
        return true;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        TryRead(out ReadResult result);
        return ValueTask.FromResult(result);
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _consumed = _data.GetOffset(consumed);
        _examinedAll = _data.GetOffset(examined) == _revealed;
    }

    public override void CancelPendingRead()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }
}
