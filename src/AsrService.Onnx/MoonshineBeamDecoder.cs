using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;
using static AsrService.Onnx.MoonshineDecoderInputs;

namespace AsrService.Onnx;

/// <summary>
/// Beam search on the merged Moonshine decoder, with the beams as the batch dimension of one decoder call per step.
/// All beams of a segment hold the same number of tokens, so no attention mask is needed: the first call (batch 1,
/// begin-of-sequence) computes the cross-attention caches, which are then repeated once per beam together with the
/// encoder output; each later step gathers the self-attention caches of the parents the search chose into buffers
/// this object owns and runs all beams at once. The search itself is <see cref="BeamSearch"/> (Core). Owned by a
/// <see cref="MoonshineDecoderSession"/>, whose decoder inputs it shares.
/// </summary>
internal sealed class MoonshineBeamDecoder : IBeamSearchModel, IDisposable
{
    private readonly MoonshineRecognizer _model;
    private readonly MoonshineLayout _layout;
    private readonly MoonshineDecoderInputs _bindings;
    private readonly RunOptions _runOptions;
    private readonly OrtValue[] _inputs;
    private readonly OrtValue?[] _stepValues;
    private readonly long[] _ids = new long[BeamSearch.MaxBeamSize];
    private readonly float[][] _self;
    private readonly float[][] _cross;
    private readonly long[][] _crossShapes;
    private float[] _encoder = [];
    private BeamSearch? _search;

    // Per decode.
    private OrtValue? _encoderOutput;
    private IDisposableReadOnlyCollection<OrtValue>? _current;
    private int _beamSize;
    private int _maxTokens;
    private int _encoderFrames;
    private int _hidden;

    public MoonshineBeamDecoder(MoonshineRecognizer model, MoonshineDecoderInputs bindings, RunOptions runOptions)
    {
        _model = model;
        _layout = model.Layout;
        _bindings = bindings;
        _runOptions = runOptions;
        _inputs = new OrtValue[bindings.Names.Length];
        _stepValues = new OrtValue?[bindings.Names.Length];
        var cacheCount = bindings.CacheCount;
        _self = new float[cacheCount][];
        _cross = new float[cacheCount][];
        _crossShapes = new long[cacheCount][];
        Array.Fill(_self, []);
        Array.Fill(_cross, []);
    }

    /// <summary>Beam search over one encoded segment ([1, frames, hidden]).</summary>
    public BeamHypothesis Decode(OrtValue encoderOutput, int beamSize, int maxTokens, CancellationToken cancellationToken)
    {
        if (_search is null || _search.BeamSize != beamSize)
        {
            _search = new BeamSearch(beamSize, _layout.VocabularySize);
        }

        Begin(encoderOutput, beamSize, maxTokens);
        try
        {
            return _search.Decode(this, maxTokens, cancellationToken);
        }
        finally
        {
            End();
        }
    }

    /// <summary>Binds a segment for <see cref="Start"/> and up to <paramref name="maxTokens"/> steps of at most <paramref name="beamSize"/> rows.</summary>
    internal void Begin(OrtValue encoderOutput, int beamSize, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(beamSize, BeamSearch.MaxBeamSize);
        _encoderOutput = encoderOutput;
        _beamSize = beamSize;
        _maxTokens = maxTokens;
    }

    /// <summary>Releases the last step's outputs and unbinds the segment.</summary>
    internal void End()
    {
        _current?.Dispose();
        _current = null;
        _encoderOutput = null;
        Array.Clear(_inputs);
    }

    public ReadOnlySpan<float> Start()
    {
        var encoderOutput = _encoderOutput ?? throw new InvalidOperationException("Start is called by Decode");
        var cacheCount = _layout.Layers * 2;
        _ids[0] = TokenDecoder.BeginOfSequence;
        using var firstIds = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, 1), [1, 1]);
        _current = _model.RunFirstCall(_bindings, _runOptions, _inputs, firstIds, encoderOutput);

        // Every beam attends to the same audio: repeat the cross-attention caches and the encoder output once per beam.
        // A row's cache keeps the shape the first call gave it (keys and values may be laid out differently).
        for (var i = 0; i < cacheCount; i++)
        {
            _crossShapes[i] = _current[1 + cacheCount + i].GetTensorTypeAndShape().Shape;
            Repeat(_current[1 + cacheCount + i].GetTensorDataAsSpan<float>(), _beamSize, ref _cross[i]);
        }

        var encoderShape = encoderOutput.GetTensorTypeAndShape().Shape;
        _encoderFrames = (int)encoderShape[1];
        _hidden = (int)encoderShape[2];
        Repeat(encoderOutput.GetTensorDataAsSpan<float>(), _beamSize, ref _encoder);
        return _current[0].GetTensorDataAsSpan<float>();
    }

    public ReadOnlySpan<float> Step(ReadOnlySpan<int> parents, ReadOnlySpan<int> tokens)
    {
        var previous = _current ?? throw new InvalidOperationException("Step follows Start");
        var rows = parents.Length;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, _beamSize, nameof(parents));
        var cacheCount = _layout.Layers * 2;
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        try
        {
            // Self-attention caches: row i of the new past is row parents[i] of the previous present.
            var past = (int)previous[1].GetTensorTypeAndShape().Shape[2];
            var block = heads * past * headSize;
            for (var i = 0; i < cacheCount; i++)
            {
                var present = previous[1 + i].GetTensorDataAsSpan<float>();
                if (_self[i].Length < rows * heads * (_maxTokens + 1) * headSize)
                {
                    _self[i] = new float[_beamSize * heads * (_maxTokens + 1) * headSize];
                }

                for (var row = 0; row < rows; row++)
                {
                    present.Slice(parents[row] * block, block).CopyTo(_self[i].AsSpan(row * block, block));
                }

                _stepValues[FirstPastInput + i] = Wrap(_self[i], rows * block, [rows, heads, past, headSize]);
            }

            for (var i = 0; i < cacheCount; i++)
            {
                var shape = _crossShapes[i];
                _stepValues[FirstPastInput + cacheCount + i] = Wrap(_cross[i], rows * (int)(shape[1] * shape[2] * shape[3]), [rows, shape[1], shape[2], shape[3]]);
            }

            _stepValues[EncoderInput] = Wrap(_encoder, rows * _encoderFrames * _hidden, [rows, _encoderFrames, _hidden]);
            for (var row = 0; row < rows; row++)
            {
                _ids[row] = tokens[row];
            }

            _stepValues[TokenInput] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, rows), [rows, 1]);
            for (var i = 0; i < _inputs.Length; i++)
            {
                _inputs[i] = i == CacheBranchInput ? _bindings.UseCache : _stepValues[i]!;
            }

            previous.Dispose();
            _current = null;
            _current = Run(_bindings.StepOutputNames);
            return _current[0].GetTensorDataAsSpan<float>();
        }
        finally
        {
            for (var i = 0; i < _stepValues.Length; i++)
            {
                _stepValues[i]?.Dispose();
                _stepValues[i] = null;
            }
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> Run(string[] outputNames)
    {
        var started = OnnxRunClock.Start();
        var outputs = _model.Decoder.Run(_runOptions, _bindings.Names, _inputs, outputNames);
        OnnxRunClock.StopRecognizer(started);
        return outputs;
    }

    private static OrtValue Wrap(float[] buffer, int length, long[] shape) =>
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, length), shape);

    /// <summary>Writes <paramref name="count"/> copies of <paramref name="block"/> one after another (a batch of identical rows).</summary>
    private static void Repeat(ReadOnlySpan<float> block, int count, ref float[] target)
    {
        if (target.Length < block.Length * count)
        {
            target = new float[block.Length * count];
        }

        for (var i = 0; i < count; i++)
        {
            block.CopyTo(target.AsSpan(i * block.Length));
        }
    }

    /// <summary>Releases the last step's outputs; the shared inputs belong to the session.</summary>
    public void Dispose() => _current?.Dispose();
}
