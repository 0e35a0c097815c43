using AsrService.Core.Recognition;
using AsrService.Onnx;
using AsrService.Onnx.Graph;

namespace AsrService.Integration.Tests;

/// <summary>
/// Group decoding (<see cref="MoonshineGroupDecoder"/>): segments of different lengths decoded with their decoder
/// steps batched must give exactly what each gives decoded alone.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class GroupDecodingTests(ModelFixture models)
{
    [DataFact]
    public void Group_OfUtterancesOfDifferentLengths_GivesEachItsSoloGreedyResult() =>
        AssertGroupEqualsSolo(models.Tiny, count: 6);

    [DataFact]
    public void Group_OnTheBaseModel_GivesEachItsSoloGreedyResult() =>
        AssertGroupEqualsSolo(models.Base, count: 3);

    [DataFact]
    public void Group_WithAnEmptySegmentAndRepeats_KeepsPositions()
    {
        var wavs = TestData.Wavs("librispeech-test-other-dev");
        var a = TestData.Read(wavs[7]);
        var b = TestData.Read(wavs[8]);
        using var session = new MoonshineDecoderSession(models.Tiny);
        var solo = session.Recognize(a);

        var group = session.RecognizeGroup([b, ReadOnlyMemory<float>.Empty, a, a]);

        Assert.Equal(4, group.Count);
        Assert.Equal(string.Empty, group[1].Text);
        Assert.Equal(solo.TokenIds, group[2].TokenIds);
        Assert.Equal(solo.TokenIds, group[3].TokenIds);
        Assert.NotEqual(group[0].Text, group[2].Text);
    }

    [DataFact]
    public void Group_WithSegmentsJoiningWhileOthersDecode_GivesEachItsSoloGreedyResult()
    {
        // Two segments start; the others join one at a time between decoder calls, so the batch holds rows of
        // different self-attention lengths (front-padded and masked) and, with the long ones joining late, cross
        // caches widened while rows decode.
        var audio = TestData.Wavs("librispeech-test-other-dev").Skip(10).Take(6).Select(TestData.Read).OrderBy(a => a.Length).ToArray();
        using var session = new MoonshineDecoderSession(models.Tiny);
        var solo = audio.Select(a => session.Recognize(a)).ToArray();

        var asked = 0;
        var next = 2;
        var joinedWhileDecoding = 0;
        var reported = new List<int>();
        var group = session.RecognizeGroup(
            [audio[0], audio[1]],
            (i, _) => reported.Add(i),
            room =>
            {
                // Every third call, one more segment, while rows are still decoding.
                if (++asked % 3 != 0 || next == audio.Length)
                {
                    return [];
                }

                joinedWhileDecoding += reported.Count < next ? 1 : 0;
                return [audio[next++]];
            });

        Assert.Equal(audio.Length, group.Count);
        Assert.True(joinedWhileDecoding >= 3, $"only {joinedWhileDecoding} segments joined a batch that was still decoding");
        Assert.Equal(Enumerable.Range(0, audio.Length), reported.Order());
        for (var i = 0; i < audio.Length; i++)
        {
            Assert.Equal(solo[i].TokenIds, group[i].TokenIds);
            Assert.Equal(solo[i].Text, group[i].Text);

            // A joined row's self-attention softmax sums over front padding (weight exactly 0) as well, in another
            // order, which moves its probabilities by rounding; seen up to 1.2e-3 in the confidence.
            Assert.Equal(solo[i].Confidence, group[i].Confidence, 5e-3f);
        }
    }

    [DataFact]
    public void BatchedStepModel_QuantizesEveryInt8LayerPerRowAndBiasesEveryAttention()
    {
        var source = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"), CancellationToken.None)["decoder"];
        var (points, softmaxes, masks, positionReaders, _) = BatchedStepRewrite.Describe(BatchedStepRewrite.Rewrite(File.ReadAllBytes(source), crossKeysTransposed: true));

        // Per layer: q/k/v, attention output, cross-attention query, its output, and the two feed-forward inputs
        // (six dynamic quantizations), plus the output projection.
        Assert.Equal(models.Tiny.Layout.Layers * 6 + 1, points);
        Assert.Equal(models.Tiny.Layout.Layers, softmaxes);
        Assert.Equal(models.Tiny.Layout.Layers, masks);
        Assert.Equal(1, positionReaders);
    }

    private static void AssertGroupEqualsSolo(MoonshineRecognizer model, int count)
    {
        var audio = TestData.Wavs("librispeech-test-other-dev").Take(count).Select(TestData.Read).ToArray();
        Assert.True(audio.Select(a => a.Length).Distinct().Count() == count, "the utterances should differ in length, so that padding is exercised");
        using var session = new MoonshineDecoderSession(model);
        var solo = audio.Select(a => session.Recognize(a)).ToArray();

        var reported = new List<(int Index, RecognitionResult Result)>();
        var group = session.RecognizeGroup(audio.Select(a => (ReadOnlyMemory<float>)a).ToArray(), (i, result) => reported.Add((i, result)));

        // Each result is reported once, as its row ends: rows that need fewer steps leave the batch (and are
        // answered) first, and the rows moved into their places keep decoding their own segments.
        Assert.Equal(Enumerable.Range(0, count), reported.Select(r => r.Index).Order());
        Assert.All(reported, r => Assert.Same(group[r.Index], r.Result));
        Assert.Equal(reported.Select(r => r.Result.TokenIds.Count).Order(), reported.Select(r => r.Result.TokenIds.Count));
        Assert.True(reported.Select(r => r.Result.TokenIds.Count).Distinct().Count() > 2, "the rows should end at different steps");
        for (var i = 0; i < count; i++)
        {
            Assert.True(solo[i].TokenIds.Count > 3, $"utterance {i} should decode to a sentence");
            Assert.Equal(solo[i].TokenIds, group[i].TokenIds);
            Assert.Equal(solo[i].Text, group[i].Text);
            Assert.Equal(solo[i].Confidence, group[i].Confidence, 1e-4f);
        }
    }
}
