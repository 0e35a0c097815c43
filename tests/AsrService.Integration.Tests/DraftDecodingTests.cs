using AsrService.Core.Recognition;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>
/// Interim decoding with a draft (the previous interim's tokens checked in one parallel call). The int8 models
/// quantise activations per call, so a parallel check may flip a near-tie that step-by-step decoding would not:
/// drafted results are close to, not always equal to, from-scratch greedy decoding, which is why finals are decoded
/// from scratch (see <c>StreamingRecognizeTests</c>).
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class DraftDecodingTests(ModelFixture models, ITestOutputHelper output)
{
    [DataFact]
    public void Recognize_WithDraftFromShorterPrefix_StaysWithinThreeWerPointsOfScratch()
    {
        using var session = models.Tiny.CreateSession();
        var pairs = new List<(string, string)>();
        var identical = 0;
        foreach (var file in TestData.Wavs("librispeech-test-other-dev").Where((_, i) => i % 5 == 0).Take(8))
        {
            var samples = TestData.Read(file);
            var scratch = session.Recognize(samples);
            foreach (var fraction in new[] { 0.5, 0.8, 1.0 })
            {
                var draft = session.Recognize(samples.AsSpan(0, (int)(samples.Length * fraction))).TokenIds.ToArray();
                var drafted = session.Recognize(samples, draft);
                pairs.Add((scratch.Text, drafted.Text));
                identical += scratch.TokenIds.SequenceEqual(drafted.TokenIds) ? 1 : 0;
            }
        }

        var difference = WordErrorRate.Compute(pairs);
        output.WriteLine($"{identical} of {pairs.Count} drafted decodes identical to scratch; word difference {difference:P2}");
        Assert.Equal(24, pairs.Count);
        // Measured: 27 of 36 identical and 1.75 % of words different on 12 files; the bound leaves room for CPUs whose
        // int8 kernels round differently.
        Assert.True(difference <= 0.03, $"drafted decodes differ from scratch in {difference:P2} of words");
        Assert.True(identical >= pairs.Count * 2 / 3, $"only {identical} of {pairs.Count} drafted decodes equal scratch");
    }

    [Theory]
    [InlineData(1, 0, 12, 2)] // the hypothesis dropped draft token 11
    [InlineData(1, 0, 11, 1)] // it added a token before 11 (or replaced 11's predecessor), then went on with 11
    [InlineData(1, 0, 14, 4)] // the edge of the window
    [InlineData(1, 0, 15, -1)] // past it
    [InlineData(1, 2, 15, 5)] // the window moves on with the tokens made since leaving the draft
    [InlineData(2, 0, 11, -1)] // behind where the draft was left
    [InlineData(1, 0, 99, -1)] // a token the draft does not hold near there
    [InlineData(4, 2, 16, -1)] // the draft's last token: nothing after it to check
    public void Realign_TokenAfterLeavingTheDraft_PositionToGoOnFrom(int from, int sinceLeft, int last, int expected)
    {
        int[] draft = [10, 11, 12, 13, 14, 15, 16];

        Assert.Equal(expected, AsrService.Onnx.MoonshineDecoderSession.Realign(draft, from, sinceLeft, last));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(2, 3)]
    [InlineData(5, 6)]
    public void Realign_TokenTheDraftHoldsTwice_TheOccurrenceNearestWhereTheHypothesisIs(int sinceLeft, int expected)
    {
        int[] draft = [10, 11, 12, 11, 13, 14, 11, 15];

        Assert.Equal(expected, AsrService.Onnx.MoonshineDecoderSession.Realign(draft, 1, sinceLeft, 11));
    }

    [DataTheory]
    [InlineData("replaced")]
    [InlineData("dropped")]
    [InlineData("added")]
    public void Recognize_DraftWithOneEditInTheMiddle_PicksTheDraftUpAgainAfterIt(string edit)
    {
        using var session = (AsrService.Onnx.MoonshineDecoderSession)models.Tiny.CreateSession();
        var results = new List<(string Scratch, string Drafted)>();
        var identical = 0;
        foreach (var file in TestData.Wavs("librispeech-test-other-dev").Where((_, i) => i % 7 == 0).Take(6))
        {
            var samples = TestData.Read(file);
            var scratch = session.Recognize(samples).TokenIds.ToArray();
            Assert.True(scratch.Length >= 12, $"{Path.GetFileName(file)} decodes to {scratch.Length} tokens");
            var middle = scratch.Length / 3;
            // Another token of the same hypothesis: a real word piece, wrong at that place.
            var other = scratch.First(token => token != scratch[middle] && token != scratch[middle + 1]);
            int[] draft = edit switch
            {
                "replaced" => [.. scratch[..middle], other, .. scratch[(middle + 1)..]],
                "dropped" => [.. scratch[..middle], .. scratch[(middle + 1)..]],
                _ => [.. scratch[..middle], other, .. scratch[middle..]],
            };

            var drafted = session.Recognize(samples, draft);

            // From the edit on, steps alone would take a call per token. Picking the draft up again takes one or two
            // steps and one check of the rest; where a near-tie flips (the first call quantised the edited draft's
            // positions together), the hypothesis leaves the draft for a few words and picks it up again.
            var steps = scratch.Length - middle;
            Assert.True(session.DecoderCalls <= 1 + steps / 2, $"{Path.GetFileName(file)}: {session.DecoderCalls} decoder calls for {scratch.Length} tokens, the edit at {middle}");
            results.Add((models.Tiny.Tokens.Decode(scratch), drafted.Text));
            identical += drafted.TokenIds.SequenceEqual(scratch) ? 1 : 0;
        }

        // Measured: 4-5 of 6 identical, 2.0-2.7 % of words different. The wrong token sits in the first call, whose
        // positions are quantised together, so it moves the agreed prefix's caches a little; the bound leaves room
        // for CPUs whose int8 kernels round differently.
        var difference = WordErrorRate.Compute(results);
        output.WriteLine($"{edit}: {identical} of {results.Count} drafted decodes identical to scratch; word difference {difference:P2}");
        Assert.True(difference <= 0.05, $"drafted decodes differ from scratch in {difference:P2} of words");
        Assert.True(identical >= results.Count / 2, $"only {identical} of {results.Count} drafted decodes equal scratch");
    }

    [DataFact]
    public void Recognize_WithUnrelatedDraft_EqualsFromScratchDecode()
    {
        using var session = models.Tiny.CreateSession();
        var files = TestData.Wavs("librispeech-test-other-dev");
        var samples = TestData.Read(files[3]);
        var unrelated = session.Recognize(TestData.Read(files[40])).TokenIds.ToArray();

        Assert.Equal(session.Recognize(samples).TokenIds, session.Recognize(samples, unrelated).TokenIds);
    }

    [DataFact]
    public void Recognize_Cancelled_StopsInsideTheModelRunAndLeavesTheSessionUsable()
    {
        using var session = models.Tiny.CreateSession();
        var samples = TestData.Read(TestData.Wavs("librispeech-test-other-dev")[3]);
        var expected = session.Recognize(samples, ReadOnlySpan<int>.Empty);
        var draft = expected.TokenIds.Take(expected.TokenIds.Count / 2).ToArray();
        var drafted = session.Recognize(samples, draft);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        var error = Assert.ThrowsAny<OperationCanceledException>(() => session.Recognize(samples, draft, cancelled.Token));

        // ONNX Runtime's terminate flag stopped the encoder run itself: a preempted interim does not hold its core
        // until the next check between decoder steps.
        Assert.IsType<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(error.InnerException);
        Assert.Equal(cancelled.Token, error.CancellationToken);

        // The flag is cleared again: the same session decodes as before, with and without a live token.
        using var live = new CancellationTokenSource();
        Assert.Equal(drafted.TokenIds, session.Recognize(samples, draft, live.Token).TokenIds);
        Assert.Equal(expected.TokenIds, session.Recognize(samples, ReadOnlySpan<int>.Empty).TokenIds);
    }
}
