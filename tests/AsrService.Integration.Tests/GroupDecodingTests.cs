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
    public void BatchedStepModel_QuantizesEveryInt8LayerPerRowAndBiasesEveryCrossAttention()
    {
        var source = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"), CancellationToken.None)["decoder"];
        var (points, softmaxes, _) = BatchedStepRewrite.Describe(BatchedStepRewrite.Rewrite(File.ReadAllBytes(source), crossKeysTransposed: true));

        // Per layer: q/k/v, attention output, cross-attention query, its output, and the two feed-forward inputs
        // (six dynamic quantizations), plus the output projection.
        Assert.Equal(models.Tiny.Layout.Layers * 6 + 1, points);
        Assert.Equal(models.Tiny.Layout.Layers, softmaxes);
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
