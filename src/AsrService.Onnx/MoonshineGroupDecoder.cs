using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;
using static AsrService.Onnx.MoonshineDecoderInputs;

namespace AsrService.Onnx;

/// <summary>
/// Greedy decoding of several segments (of any streams) together: one decoder call per token for all of them, with
/// the segments as the batch rows of the batched-step model (<see cref="Graph.BatchedStepRewrite"/>). Each segment's
/// encoder run and first decoder call (begin-of-sequence, which computes its cross-attention caches) run alone, as
/// in solo decoding. Those caches are then copied once into batch tensors padded to the longest segment's encoder
/// frames, with a cross-attention bias that gives the padding no weight; every segment starts from the same one
/// token, so the self-attention caches stay equally long and need no mask. From then on the step's present caches
/// are bound as the next step's past, with no copies. A segment that has ended keeps its row until the group ends
/// (its results are ignored), so groups of similar length waste least. Each row's tokens equal its solo greedy
/// decode, because the batched model quantizes every row on its own scale (tested in the integration tests).
/// Owned by a <see cref="MoonshineDecoderSession"/>, whose encoder buffers and first-call inputs it uses.
/// </summary>
internal sealed class MoonshineGroupDecoder
{
    private readonly MoonshineRecognizer _model;
    private readonly MoonshineLayout _layout;
    private readonly MoonshineDecoderInputs _bindings;
    private readonly RunOptions _runOptions;
    private readonly string[] _stepInputNames;
    private readonly string[] _stepOutputNames;
    private readonly OrtValue[] _firstInputs;
    private readonly OrtValue[] _stepInputs;
    private readonly long[] _bos = [TokenDecoder.BeginOfSequence];
    private readonly float[][] _self;
    private readonly float[][] _cross;
    private float[] _bias = [];
    private long[] _ids = [];

    public MoonshineGroupDecoder(MoonshineRecognizer model, MoonshineDecoderInputs bindings, RunOptions runOptions)
    {
        _model = model;
        _layout = model.Layout;
        _bindings = bindings;
        _runOptions = runOptions;
        _stepInputNames = ["input_ids", .. _layout.PastDecoderNames, .. _layout.PastEncoderNames, Graph.BatchedStepRewrite.CrossAttentionBias];
        _stepOutputNames = bindings.StepOutputNames;
        _firstInputs = new OrtValue[bindings.Names.Length];
        _stepInputs = new OrtValue[_stepInputNames.Length];
        _self = new float[bindings.CacheCount][];
        _cross = new float[bindings.CacheCount][];
        Array.Fill(_self, []);
        Array.Fill(_cross, []);
    }

    /// <summary>The most segments one group takes.</summary>
    public const int MaxRows = 16;

    /// <summary>
    /// Decodes <paramref name="segments"/> greedily; <paramref name="encode"/> runs the encoder on one segment and
    /// <paramref name="maxTokens"/> gives each segment's token budget.
    /// </summary>
    public RecognitionResult[] Decode(
        IReadOnlyList<ReadOnlyMemory<float>> segments, Func<ReadOnlyMemory<float>, IDisposableReadOnlyCollection<OrtValue>> encode,
        Func<int, int> maxTokens, CancellationToken cancellationToken)
    {
        var rows = segments.Count;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows, nameof(segments));
        var cacheCount = _bindings.CacheCount;
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        var vocabulary = _layout.VocabularySize;
        var tokens = new List<int>[rows];
        var next = new int[rows];
        var budget = new int[rows];
        var logProbabilitySums = new double[rows];
        var scored = new int[rows];
        var firsts = new IDisposableReadOnlyCollection<OrtValue>?[rows];
        IDisposableReadOnlyCollection<OrtValue>? current = null;
        try
        {
            // Each segment alone: encoder, then the first decoder call, which yields its first token and its caches.
            var frames = new int[rows];
            for (var row = 0; row < rows; row++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                tokens[row] = [];
                budget[row] = maxTokens(segments[row].Length);
                using var encoded = encode(segments[row]);
                using var ids = OrtValue.CreateTensorValueFromMemory(_bos, [1, 1]);
                _bindings.BindFirstCall(_firstInputs, ids, encoded[0]);
                var started = OnnxRunClock.Start();
                firsts[row] = _model.Decoder.Run(_runOptions, _bindings.Names, _firstInputs, _bindings.FirstOutputNames);
                OnnxRunClock.StopRecognizer(started);
                Array.Clear(_firstInputs);
                next[row] = Logits.Greedy(firsts[row]![0].GetTensorDataAsSpan<float>()[^vocabulary..], out var logProbability);
                logProbabilitySums[row] = logProbability;
                scored[row] = 1;
                frames[row] = (int)firsts[row]![1 + cacheCount].GetTensorTypeAndShape().Shape[2];
            }

            // Batch tensors: self caches hold one position (begin-of-sequence); cross caches are padded to the longest.
            var longest = frames.Max();
            Fit(ref _bias, rows * longest);
            Fit(ref _ids, rows);
            for (var row = 0; row < rows; row++)
            {
                _bias.AsSpan(row * longest, frames[row]).Clear();
                _bias.AsSpan(row * longest + frames[row], longest - frames[row]).Fill(float.NegativeInfinity);
            }

            for (var i = 0; i < cacheCount; i++)
            {
                Fit(ref _self[i], rows * heads * headSize);
                Fit(ref _cross[i], rows * heads * longest * headSize);
                for (var row = 0; row < rows; row++)
                {
                    firsts[row]![1 + i].GetTensorDataAsSpan<float>().CopyTo(_self[i].AsSpan(row * heads * headSize));
                    var cross = firsts[row]![1 + cacheCount + i].GetTensorDataAsSpan<float>();
                    var block = frames[row] * headSize;
                    for (var head = 0; head < heads; head++)
                    {
                        var target = _cross[i].AsSpan(((row * heads) + head) * longest * headSize, longest * headSize);
                        cross.Slice(head * block, block).CopyTo(target);
                        target[block..].Clear();
                    }
                }
            }

            foreach (var first in firsts)
            {
                first!.Dispose();
            }

            Array.Clear(firsts);
            using var idsValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, rows), [rows, 1]);
            using var biasValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _bias.AsMemory(0, rows * longest), [rows, 1, 1, longest]);
            var initialSelf = new OrtValue[cacheCount];
            var crossValues = new OrtValue[cacheCount];
            try
            {
                for (var i = 0; i < cacheCount; i++)
                {
                    initialSelf[i] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _self[i].AsMemory(0, rows * heads * headSize), [rows, heads, 1, headSize]);
                    crossValues[i] = OrtValue.CreateTensorValueFromMemory(
                        OrtMemoryInfo.DefaultInstance, _cross[i].AsMemory(0, rows * heads * longest * headSize), [rows, heads, longest, headSize]);
                }

                _stepInputs[0] = idsValue;
                Array.Copy(initialSelf, 0, _stepInputs, 1, cacheCount);
                Array.Copy(crossValues, 0, _stepInputs, 1 + cacheCount, cacheCount);
                _stepInputs[^1] = biasValue;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var active = 0;
                    for (var row = 0; row < rows; row++)
                    {
                        if (next[row] != TokenDecoder.EndOfSequence && tokens[row].Count < budget[row])
                        {
                            tokens[row].Add(next[row]);
                            _ids[row] = next[row];
                            active++;
                        }
                        else
                        {
                            _ids[row] = TokenDecoder.EndOfSequence;
                        }
                    }

                    if (active == 0)
                    {
                        break;
                    }

                    var started = OnnxRunClock.Start();
                    var outputs = _model.BatchedStep.Run(_runOptions, _stepInputNames, _stepInputs, _stepOutputNames);
                    OnnxRunClock.StopRecognizer(started);
                    current?.Dispose();
                    current = outputs;
                    for (var i = 0; i < cacheCount; i++)
                    {
                        _stepInputs[1 + i] = current[1 + i];
                    }

                    var logits = current[0].GetTensorDataAsSpan<float>();
                    for (var row = 0; row < rows; row++)
                    {
                        if (_ids[row] == TokenDecoder.EndOfSequence)
                        {
                            continue;
                        }

                        next[row] = Logits.Greedy(logits.Slice(row * vocabulary, vocabulary), out var logProbability);
                        logProbabilitySums[row] += logProbability;
                        scored[row]++;
                    }
                }
            }
            finally
            {
                foreach (var value in initialSelf.Concat(crossValues))
                {
                    value?.Dispose();
                }

                Array.Clear(_stepInputs);
            }

            var results = new RecognitionResult[rows];
            for (var row = 0; row < rows; row++)
            {
                var text = _model.Tokens.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens[row]));
                results[row] = new RecognitionResult(text, tokens[row].ToArray(), (float)Math.Exp(logProbabilitySums[row] / scored[row]));
            }

            return results;
        }
        finally
        {
            current?.Dispose();
            foreach (var first in firsts)
            {
                first?.Dispose();
            }

            Array.Clear(_firstInputs);
        }
    }

    private static void Fit<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new T[length];
        }
    }
}
