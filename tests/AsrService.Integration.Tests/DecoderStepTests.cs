using AsrService.Core.Recognition;
using AsrService.Onnx;
using AsrService.Onnx.Graph;
using AsrService.Onnx.Graph.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>The greedy loop's decoder step (<see cref="NativeDecoderStep"/>) on the real tiny model.</summary>
[Collection(ModelCollection.Name)]
public sealed class DecoderStepTests(ModelFixture models, ITestOutputHelper output)
{
    [DataFact]
    public void Step_InSteadyState_AllocatesNothingOnTheManagedHeap()
    {
        using var session = new MoonshineDecoderSession(models.Tiny);
        using var step = session.PrepareFixedStep(TestData.Read(TestData.Wavs("librispeech-test-other-dev")[0]), 12);
        var token = step.Run();

        // The least of three measurements: the runtime itself may allocate on this thread once in a full test run,
        // while a step that allocated would do so every time.
        var same = 0;
        var allocated = long.MaxValue;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 50; i++)
            {
                same += step.Run() == token ? 1 : 0;
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(150, same);
        Assert.Equal(0, allocated);
    }

    [DataFact]
    public void Encode_ReadsTheCallersSamplesInPlaceAndPadsShortSegmentsWithSilence()
    {
        using var session = new MoonshineDecoderSession(models.Tiny);
        var samples = TestData.Read(TestData.Wavs("librispeech-test-other-dev")[2]);

        // A span in the middle of a larger array encodes exactly as the same samples in an array of their own.
        var surrounded = new float[samples.Length + 1000];
        surrounded.AsSpan().Fill(0.5f);
        samples.CopyTo(surrounded, 700);
        Assert.Equal(EncoderOutput(session, samples), EncoderOutput(session, surrounded.AsSpan(700, samples.Length)));

        // Below the encoder's minimum of 4000 samples a segment is padded with silence, also right after a longer
        // short segment has filled the padding buffer.
        var shorter = samples.AsSpan(samples.Length / 3, 1200).ToArray();
        var padded = new float[4000];
        shorter.CopyTo(padded, 0);
        var expected = EncoderOutput(session, padded);
        _ = EncoderOutput(session, samples.AsSpan(samples.Length / 2, 3900));
        Assert.Equal(expected, EncoderOutput(session, shorter));
    }

    [DataFact]
    public void Step_WhenOnnxRuntimeRejectsAnInput_ThrowsItsErrorAndRunsAgainOnceTheInputIsRight()
    {
        var model = models.Tiny;
        var layout = model.Layout;
        using var recognizerSession = new MoonshineDecoderSession(model);
        using var encoded = recognizerSession.Encode(TestData.Read(TestData.Wavs("librispeech-test-other-dev")[1]));
        using var bindings = new MoonshineDecoderInputs(layout);
        using var runOptions = new RunOptions();
        using var step = new NativeDecoderStep(model.Decoder, null, runOptions, bindings, layout.VocabularySize);
        using var ids = OrtValue.CreateTensorValueFromMemory(new long[] { 1 }, [1, 1]);
        using var wrongHeads = OrtValue.CreateAllocatedTensorValue(
            OrtAllocator.DefaultInstance, TensorElementType.Float, [1, layout.Heads + 1, 0, layout.HeadSize]);
        var inputs = new OrtValue[bindings.Names.Length];
        bindings.BindFirstCall(inputs, ids, encoded[0]);
        var rightCache = inputs[MoonshineDecoderInputs.FirstPastInput];

        inputs[MoonshineDecoderInputs.FirstPastInput] = wrongHeads;
        step.Bind(inputs);
        Assert.ThrowsAny<OnnxRuntimeException>(() => { step.Run(); });

        inputs[MoonshineDecoderInputs.FirstPastInput] = rightCache;
        step.Bind(inputs);
        var logits = step.Run();
        Assert.Equal(layout.VocabularySize, logits.Length);
        Assert.True(float.IsFinite(logits[0]));
    }

    [DataFact]
    public void SoloStepModel_DecodesAsTheMergedDecoderDoes()
    {
        using var recognizer = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions(), models.Cache);
        Assert.NotNull(recognizer.SoloStep);
        using var solo = (MoonshineDecoderSession)recognizer.CreateSession();
        recognizer.UseSoloStep = false;
        using var merged = (MoonshineDecoderSession)recognizer.CreateSession();
        SameDecodes.Assert(merged, solo, TestData.Wavs("librispeech-test-other-dev").Where((_, i) => i % 6 == 0).Take(10), output);
        Assert.True(solo.SoloSteps > 100, $"only {solo.SoloSteps} steps ran on the solo-step model");
        Assert.Equal(0, merged.SoloSteps);
    }

    [DataFact]
    public void SoloStepModelThatCannotBePrepared_StepsRunOnTheMergedDecoder_WithOneLineSaid()
    {
        var files = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"));
        var log = new List<string>();
        using var recognizer = new MoonshineRecognizer(
            "tiny", files["encoder"], files["decoder"], models.Tiny.Tokens, new InferenceOptions(), ExecutionProviderKind.Cpu, models.Cache, log.Add,
            createSplitEncoder: null,
            createSoloStep: () => throw new Core.Models.ModelLoadException("ONNX Runtime could not load the solo-step model: a test's failure"));
        using var session = (MoonshineDecoderSession)recognizer.CreateSession();
        using var reference = models.Tiny.CreateSession();
        var samples = TestData.Read(TestData.Wavs("librispeech-test-other-dev")[2]);

        var result = session.Recognize(samples);

        Assert.Null(recognizer.SoloStep);
        Assert.Equal(0, session.SoloSteps);
        Assert.Equal(reference.Recognize(samples).TokenIds, result.TokenIds);
        Assert.Contains("decoder steps will run on the merged decoder", Assert.Single(log));
        Assert.Contains("a test's failure", log[0]);
    }

    [Fact]
    public void SoloStepModel_TakesTheMergedDecodersInputs_WithBatchAndTokensFixedAtOne()
    {
        var files = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"));
        var merged = Model.Parser.ParseFrom(File.ReadAllBytes(files["decoder"])).Graph;
        var step = Model.Parser.ParseFrom(SoloStepRewrite.Rewrite(File.ReadAllBytes(files["decoder"]))!).Graph;
        long[] Dims(ValueInfo value) => [.. value.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue : -1)];

        Assert.Equal(merged.Input.Select(i => i.Name), step.Input.Select(i => i.Name));
        Assert.Equal(["logits", .. models.Tiny.Layout.PresentDecoderNames], step.Output.Select(o => o.Name));
        Assert.Equal([1, 1], Dims(step.Input.Single(i => i.Name == "input_ids")));
        Assert.All(step.Input.Where(i => i.Name.StartsWith("past_key_values.", StringComparison.Ordinal)), i => Assert.Equal(1, Dims(i)[0]));
        Assert.Equal([1, 1, models.Tiny.Layout.VocabularySize], Dims(step.Output[0]));
        Assert.DoesNotContain(step.Node, n => n.OpType == "If");
        Assert.Null(SoloStepRewrite.Rewrite(File.ReadAllBytes(files["encoder"])));
    }

    private static float[] EncoderOutput(MoonshineDecoderSession session, ReadOnlySpan<float> samples)
    {
        using var encoded = session.Encode(samples);
        return encoded[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
