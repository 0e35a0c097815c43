using System.Numerics.Tensors;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>Beam search on the real tiny decoder, with the beams as the batch of one decoder call per step.</summary>
[Collection(ModelCollection.Name)]
public sealed class BeamSearchDecodingTests(ModelFixture models, ITestOutputHelper output)
{
    private static string[] Files => TestData.Wavs("librispeech-test-other-dev").Where((_, i) => i % 6 == 1).Take(8).ToArray();

    [DataFact]
    public void Step_RowsFollowTheirParentsCaches_LogitsMatchUnbatchedDecodingOfEachRowsPrefix()
    {
        // Two rows with unrelated histories (the transcripts of two different files), decoded against the first
        // file's audio in one batch; then the rows swap parents. Each row's logits must be those of an unbatched
        // decode of that row's own prefix, and far from those of the other row's prefix.
        using var session = (MoonshineDecoderSession)models.Tiny.CreateSession();
        var files = TestData.Wavs("librispeech-test-other-dev");
        var samples = TestData.Read(files[2]);
        var first = session.Recognize(samples).TokenIds.Take(8).ToArray();
        var second = files.Skip(30).Select(file => session.Recognize(TestData.Read(file)).TokenIds).First(tokens => tokens.Count >= 8).Take(8).ToArray();
        Assert.Equal(8, first.Length);
        Assert.Equal(8, second.Length);

        using var encoded = session.Encode(samples);
        using var runOptions = new RunOptions();
        using var bindings = new MoonshineDecoderInputs(models.Tiny.Layout);
        using var beams = new MoonshineBeamDecoder(models.Tiny, bindings, runOptions);
        beams.Begin(encoded[0], beamSize: 2, maxTokens: 16);
        try
        {
            beams.Start();
            var rows = new[] { new List<int>(), new List<int>() };
            int[][] sources = [first, second];
            for (var position = 0; position < 8; position++)
            {
                // The first step grows both rows from the one begin-of-sequence row; at position 5 they swap.
                int[] parents = position == 0 ? [0, 0] : position == 5 ? [1, 0] : [0, 1];
                var previous = rows.Select(row => row.ToList()).ToArray();
                var previousSources = sources.ToArray();
                for (var row = 0; row < 2; row++)
                {
                    sources[row] = position == 0 ? sources[row] : previousSources[parents[row]];
                    rows[row] = position == 0 ? [] : previous[parents[row]];
                    rows[row].Add(sources[row][position]);
                }

                var logits = beams.Step(parents, [rows[0][^1], rows[1][^1]]).ToArray();
                if (position is 4 or 5 or 7)
                {
                    var vocabulary = logits.Length / 2;
                    var reference = rows.Select(row => LastRow(session.ParallelLogits(samples, [.. row]), vocabulary)).ToArray();
                    for (var row = 0; row < 2; row++)
                    {
                        var batched = LogSoftmax(logits.AsSpan(row * vocabulary, vocabulary));
                        var own = MaxDifference(batched, reference[row]);
                        var other = MaxDifference(batched, reference[1 - row]);
                        output.WriteLine($"position {position}, row {row}: {own:F3} from its own prefix, {other:F3} from the other row's");
                        Assert.True(own < 2 && own < other / 5, $"row {row} at position {position}: {own:F3} from its own prefix's logits, {other:F3} from the other's");
                    }
                }
            }
        }
        finally
        {
            beams.End();
        }
    }

    [DataFact]
    public void RecognizeWithBeams_OneBeam_EqualsGreedyDecoding()
    {
        using var session = (MoonshineDecoderSession)models.Tiny.CreateSession();
        foreach (var file in Files)
        {
            var samples = TestData.Read(file);
            var greedy = session.Recognize(samples);
            var beam = session.RecognizeWithBeams(samples, 1);
            Assert.Equal(greedy.TokenIds, beam.TokenIds);
            Assert.Equal(greedy.Text, beam.Text);
        }
    }

    [DataFact]
    public void RecognizeWithBeams_FourBeams_ReportsTheModelsScoreOfTheChosenTokens()
    {
        // The confidence is exp(log-probability per token) as the search accumulated it over batched steps; the
        // model's own score of the chosen tokens, rescored in one unbatched call, must agree up to the int8 models'
        // per-call activation quantisation (measured: at most 0.018 per token).
        using var session = (MoonshineDecoderSession)models.Tiny.CreateSession();
        var references = TestData.References("librispeech-test-other-dev");
        var pairs = new List<(string, string)>();
        var differs = 0;
        foreach (var file in Files)
        {
            var samples = TestData.Read(file);
            var greedy = session.Recognize(samples);
            var beam = session.RecognizeWithBeams(samples, 4);
            var tokens = beam.TokenIds.ToArray();
            var reported = Math.Log(beam.Confidence) * (tokens.Length + 1);
            var logits = session.ParallelLogits(samples, tokens);
            var vocabulary = logits.Length / (tokens.Length + 1);
            var rescored = 0.0;
            for (var position = 0; position <= tokens.Length; position++)
            {
                var next = position < tokens.Length ? tokens[position] : TokenDecoder.EndOfSequence;
                rescored += LogSoftmax(logits.AsSpan(position * vocabulary, vocabulary))[next];
            }

            output.WriteLine($"{Path.GetFileName(file)}: {tokens.Length} tokens, reported {reported:F3}, rescored {rescored:F3}");
            Assert.True(Math.Abs(reported - rescored) <= 0.05 * (tokens.Length + 1), $"{file}: beam reported {reported:F3}, the model gives {rescored:F3}");
            pairs.Add((references[Path.GetFileNameWithoutExtension(file)], beam.Text));
            differs += greedy.TokenIds.SequenceEqual(beam.TokenIds) ? 0 : 1;
        }

        var wer = WordErrorRate.Compute(pairs);
        output.WriteLine($"{differs} of {Files.Length} differ from greedy; WER {wer:P2}");
        Assert.True(wer < 0.25, $"beam search transcripts are far from the references: WER {wer:P2}");
    }

    [DataFact]
    public void Recognize_WithBeamSizeOption_UsesBeamSearchForScratchDecodesAndGreedyForDrafts()
    {
        var options = new InferenceOptions { BeamSize = 3, IntraOpThreads = models.Options.IntraOpThreads };
        using var beamModel = OnnxSpeechModels.LoadRecognizer("tiny", options, models.Cache);
        using var beamSession = (MoonshineDecoderSession)beamModel.CreateSession();
        using var reference = (MoonshineDecoderSession)models.Tiny.CreateSession();
        foreach (var file in Files.Take(4))
        {
            var samples = TestData.Read(file);
            Assert.Equal(reference.RecognizeWithBeams(samples, 3).TokenIds, beamSession.Recognize(samples).TokenIds);
            Assert.Equal(reference.Recognize(samples, []).TokenIds, beamSession.Recognize(samples, ReadOnlySpan<int>.Empty).TokenIds);
        }
    }

    private static float[] LastRow(float[] logits, int vocabulary) => LogSoftmax(logits.AsSpan(logits.Length - vocabulary));

    private static float[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        var result = new float[logits.Length];
        var max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, result);
        var shifted = result.ToArray();
        TensorPrimitives.Exp(shifted, shifted);
        TensorPrimitives.Subtract(result, MathF.Log(TensorPrimitives.Sum(shifted)), result);
        return result;
    }

    /// <summary>The largest difference over the tokens either distribution gives at least 1e-4.</summary>
    private static double MaxDifference(float[] a, float[] b)
    {
        var floor = MathF.Log(1e-4f);
        var largest = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] > floor || b[i] > floor)
            {
                largest = Math.Max(largest, Math.Abs(a[i] - b[i]));
            }
        }

        return largest;
    }
}
