namespace AsrService.Core.Recognition;

/// <summary>
/// A speech recognizer shared by all streams: it holds the model sessions and the tokenizer and is thread-safe.
/// Per-utterance mutable state (buffers, caches) lives in the <see cref="IRecognizerSession"/> it creates.
/// </summary>
public interface ISpeechRecognizer : IDisposable
{
    /// <summary>A short name of the loaded model, e.g. "moonshine-tiny-int8".</summary>
    string ModelName { get; }

    /// <summary>Where the model runs, e.g. "cpu" or "cuda".</summary>
    string ExecutionProvider { get; }

    /// <summary>Threads one decode uses (ONNX Runtime intra-op threads).</summary>
    int IntraOpThreads { get; }

    /// <summary>Creates the per-stream decoding state. Buffers are sized once, here.</summary>
    IRecognizerSession CreateSession();

    /// <summary>
    /// Loads now whatever <see cref="IRecognizerSession.RecognizeGroup"/> needs beyond solo decoding, so that the
    /// first group decode does not pay for it. Nothing by default.
    /// </summary>
    void PrepareGroupDecoding()
    {
    }
}

/// <summary>Decodes speech segments for one stream. Not thread-safe.</summary>
public interface IRecognizerSession : IDisposable
{
    /// <summary>
    /// Decodes one segment of 16 kHz mono speech from scratch: greedily, or by beam search when the recognizer was
    /// configured with a beam (<see cref="InferenceOptions.BeamSize"/>).
    /// </summary>
    RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default);

    /// <summary>
    /// Decodes a segment given a draft: the token ids of an earlier hypothesis of the same (now longer) segment. The
    /// result is the greedy decode of <paramref name="samples"/>; the draft only saves the decoder the steps on which
    /// the model still agrees with it. This is the interim update: an implementation may also carry encoder work over
    /// from its previous call when <paramref name="samples"/> continue that call's segment, which gives an encoder
    /// output close to, not equal to, the one from scratch (see <see cref="InferenceOptions.InterimEncoderWindowSeconds"/>),
    /// and so now and then other tokens. Finals use the overload without a draft. Cancelling <paramref name="cancellationToken"/> stops the decode promptly, also
    /// inside a model run, with <see cref="OperationCanceledException"/> (a preempted interim does not hold its core).
    /// </summary>
    RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default);

    /// <summary>
    /// Decodes several segments (of any streams) from scratch; result i is what <see cref="Recognize(ReadOnlySpan{float}, CancellationToken)"/>
    /// gives for segment i. A recognizer that can batch decoder calls across segments does so; this default decodes
    /// them one after another. <paramref name="onResult"/> hears each result (with its index) as soon as it is known,
    /// on the calling thread and before this returns, so that a short segment need not wait for a long one.
    /// <paramref name="joining"/>, when given, is asked while the group decodes (with the number of segments it can
    /// take now) for more segments to decode with it; they take the indices after the ones before them, and the
    /// group ends when none is left decoding and it gives none.
    /// </summary>
    IReadOnlyList<RecognitionResult> RecognizeGroup(
        IReadOnlyList<ReadOnlyMemory<float>> segments, Action<int, RecognitionResult>? onResult = null,
        Func<int, IReadOnlyList<ReadOnlyMemory<float>>>? joining = null, CancellationToken cancellationToken = default) =>
        RecognizeOneByOne(this, segments, onResult, joining, cancellationToken);

    /// <summary><see cref="Recognize(ReadOnlySpan{float}, CancellationToken)"/> on each segment in turn: the unbatched group decode.</summary>
    static IReadOnlyList<RecognitionResult> RecognizeOneByOne(
        IRecognizerSession session, IReadOnlyList<ReadOnlyMemory<float>> segments, Action<int, RecognitionResult>? onResult,
        Func<int, IReadOnlyList<ReadOnlyMemory<float>>>? joining, CancellationToken cancellationToken)
    {
        var all = new List<ReadOnlyMemory<float>>(segments);
        var results = new List<RecognitionResult>(all.Count);
        while (true)
        {
            if (results.Count == all.Count)
            {
                var more = joining?.Invoke(1) ?? [];
                if (more.Count == 0)
                {
                    return results;
                }

                all.AddRange(more);
            }

            var result = session.Recognize(all[results.Count].Span, cancellationToken);
            results.Add(result);
            onResult?.Invoke(results.Count - 1, result);
        }
    }
}

/// <summary>The text of one segment with its token ids and a confidence from the token log-probabilities.</summary>
public sealed record RecognitionResult(string Text, IReadOnlyList<int> TokenIds, float Confidence)
{
    public static RecognitionResult Empty { get; } = new(string.Empty, Array.Empty<int>(), 0f);
}
