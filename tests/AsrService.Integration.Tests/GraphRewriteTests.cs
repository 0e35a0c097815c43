using AsrService.Core.Recognition;
using AsrService.Onnx;
using AsrService.Onnx.Graph;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;
using OnnxGraph = AsrService.Onnx.Graph.Proto.Graph;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>
/// The load-time rewrites (dequantized MatMuls fused, cross-attention keys stored transposed), on the real Moonshine
/// decoder and on small hand-built graphs.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class GraphRewriteTests(ModelFixture models, ITestOutputHelper output)
{
    [Fact]
    public void TinyDecoderOutputProjectionBecomesOneQuantizedMatMulInEachBranch()
    {
        var path = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"))["decoder"];
        var model = Model.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(2, CountMatMulsOfDequantized(model.Graph));

        var replaced = QuantizedMatMulRewrite.Apply(model);

        Assert.Equal(0, CountMatMulsOfDequantized(model.Graph));

        // The merged decoder has two branches (first step, cached steps), each with its own output projection.
        Assert.Equal(2, replaced);
        var branches = model.Graph.Node.Single(n => n.OpType == "If").Attribute.Select(a => a.G).ToList();
        Assert.All(branches, branch =>
        {
            var fused = Assert.Single(branch.Node, n => n.OpType == "DynamicQuantizeMatMul");
            Assert.Equal("com.microsoft", fused.Domain);
            Assert.DoesNotContain(branch.Node, n => n.OpType == "DequantizeLinear" && n.Output[0] == fused.Input[1]);
        });
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.microsoft");
    }

    [DataFact]
    public void RewrittenAndOriginalDecodersTranscribeTheSameWords()
    {
        var original = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { RewriteGraphs = false }, models.Cache);
        using var _ = original;
        var rewritten = models.Tiny.CreateSession();
        var plain = original.CreateSession();
        var compared = 0;
        foreach (var file in TestData.Wavs("librispeech-test-other-dev").Where((_, i) => i % 6 == 0).Take(10))
        {
            var samples = TestData.Read(file);
            var expected = plain.Recognize(samples);
            var actual = rewritten.Recognize(samples);
            Assert.Equal(expected.Text, actual.Text);
            output.WriteLine($"{Path.GetFileName(file)}: confidence {expected.Confidence:F4} as downloaded, {actual.Confidence:F4} rewritten");
            compared++;
        }

        Assert.Equal(10, compared);
    }

    [Fact]
    public void TinyDecoderCrossKeysAreReturnedTransposedAndReadAsTheyCome()
    {
        var path = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"))["decoder"];
        var model = Model.Parser.ParseFrom(File.ReadAllBytes(path));
        var layers = models.Tiny.Layout.Layers;
        var cached = model.Graph.Node.Single().Attribute.Single(a => a.Name == "then_branch").G;
        Assert.All(Enumerable.Range(0, layers), layer =>
            Assert.Equal("Transpose", Assert.Single(cached.Node, n => n.Input.Contains($"past_key_values.{layer}.encoder.key")).OpType));

        Assert.Equal(layers, CrossAttentionKeyRewrite.Apply(model));

        // Every cached step's query-key product reads the past keys directly, and the declared shapes follow.
        var first = model.Graph.Node.Single().Attribute.Single(a => a.Name == "else_branch").G;
        Assert.All(Enumerable.Range(0, layers), layer =>
        {
            Assert.Equal("MatMul", Assert.Single(cached.Node, n => n.Input.Contains($"past_key_values.{layer}.encoder.key")).OpType);
            Assert.Equal("Mul", Assert.Single(first.Node, n => n.Output.Contains($"present.{layer}.encoder.key")).OpType);
            var dims = model.Graph.Input.Single(i => i.Name == $"past_key_values.{layer}.encoder.key").Type.TensorType.Shape.Dim;
            Assert.Equal(models.Tiny.Layout.HeadSize, dims[2].DimValue);
            Assert.Equal("encoder_sequence_length_out", dims[3].DimParam);
        });

        // A second pass finds nothing to do: the first call's keys no longer leave through a transpose.
        Assert.Equal(0, CrossAttentionKeyRewrite.Apply(model));
    }

    [DataFact]
    public void CrossKeyRewriteChangesNoResult()
    {
        // The same decoder with and without the cross-key rewrite (both with the MatMul fusion): every token and
        // every confidence must agree, since the rewrite only moves a transpose and a scaling into the first call.
        var folder = Directory.CreateTempSubdirectory("asr-crosskey-");
        try
        {
            var files = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"));
            var model = Model.Parser.ParseFrom(File.ReadAllBytes(files["decoder"]));
            Assert.True(QuantizedMatMulRewrite.Apply(model) > 0);
            var fusedOnly = Path.Combine(folder.FullName, "decoder.onnx");
            File.WriteAllBytes(fusedOnly, model.ToByteArray());
            var tokens = TokenDecoder.FromLlamaTokenizerJs(models.Cache.Ensure(models.Cache.Manifest.Get("tokenizer").Files["vocabulary"]));
            using var plainKeys = new MoonshineRecognizer("tiny", files["encoder"], fusedOnly, tokens, new InferenceOptions { RewriteGraphs = false });
            Assert.False(plainKeys.Layout.CrossKeysTransposed);
            Assert.True(models.Tiny.Layout.CrossKeysTransposed);

            using var expectedSession = plainKeys.CreateSession();
            using var actualSession = models.Tiny.CreateSession();
            SameDecodes.Assert(expectedSession, actualSession, TestData.Wavs("librispeech-test-other-dev").Take(8), output);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void PerChannelScalesAreLeftAlone()
    {
        var model = HandBuilt(scaleDims: [4]);
        var before = model.ToByteArray();

        Assert.Equal(0, QuantizedMatMulRewrite.Apply(model));
        Assert.Equal(before, model.ToByteArray());
    }

    [Fact]
    public void PerTensorDequantizedMatMulIsFusedAndUnknownFieldsSurvive()
    {
        var model = HandBuilt(scaleDims: []);
        // A field this schema does not declare (GraphProto.doc_string = 10) must come back unchanged.
        var withDocString = Concat(model.ToByteArray(), GraphDocString("kept"));
        var parsed = Model.Parser.ParseFrom(withDocString);

        var (bytes, replaced) = RewrittenModelFile.Rewrite(withDocString);

        Assert.Equal(1, replaced);
        var rewritten = Model.Parser.ParseFrom(bytes);
        var node = Assert.Single(rewritten.Graph.Node);
        Assert.Equal("DynamicQuantizeMatMul", node.OpType);
        Assert.Equal(["x", "w", "w_scale", "w_zero"], node.Input);
        Assert.Equal(["y"], node.Output);
        Assert.Equal(parsed.Graph.Initializer, rewritten.Graph.Initializer);
        Assert.True(bytes.AsSpan().IndexOf("kept"u8) >= 0, "the undeclared doc_string field was dropped");
    }

    [Fact]
    public void DequantizedWeightStillReadElsewhereIsKept()
    {
        var model = HandBuilt(scaleDims: []);
        model.Graph.Output.Add(new ValueInfo { Name = "w_float" });

        Assert.Equal(1, QuantizedMatMulRewrite.Apply(model));
        Assert.Contains(model.Graph.Node, n => n.OpType == "DequantizeLinear");
    }

    [Fact]
    public void RewrittenModelIsCachedBesideTheOriginal()
    {
        var folder = Directory.CreateTempSubdirectory("asr-rewrite-");
        try
        {
            var source = Path.Combine(folder.FullName, "decoder.onnx");
            File.WriteAllBytes(source, HandBuilt(scaleDims: []).ToByteArray());

            // What an earlier version of the rewrites cached goes once the current one is written; other files stay.
            var stale = Path.Combine(folder.FullName, "decoder.asr-r1.onnx");
            var other = Path.Combine(folder.FullName, "decoder.asr-notes.onnx");
            File.WriteAllBytes(stale, [1]);
            File.WriteAllBytes(other, [1]);

            var first = RewrittenModelFile.Prepare(source);
            var second = RewrittenModelFile.Prepare(source);

            Assert.Equal(1, first.Replaced);
            Assert.Equal(RewrittenModelFile.CachedPathFor(source), first.Path);
            Assert.Equal("DynamicQuantizeMatMul", Model.Parser.ParseFrom(File.ReadAllBytes(first.Path)).Graph.Node.Single().OpType);
            Assert.Equal(-1, second.Replaced);
            Assert.Equal(first.Path, second.Path);
            Assert.Empty(Directory.GetFiles(folder.FullName, "*.tmp"));
            Assert.False(File.Exists(stale), "the previous version's rewritten file was left behind");
            Assert.True(File.Exists(other));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [DataFact]
    public void DamagedRewrittenCopies_AreRebuiltFromTheOriginal_AndTheModelTranscribesAsBefore()
    {
        var files = models.Cache.Ensure(models.Cache.Manifest.Get("tiny"));
        var folder = Directory.CreateTempSubdirectory("asr-damaged-");
        try
        {
            // The originals, and the rewritten copies an earlier load cached beside them, with two of those damaged
            // as a disk or an interrupted copy would leave them: one cut short, one overwritten.
            var encoder = Path.Combine(folder.FullName, "encoder_model.onnx");
            var decoder = Path.Combine(folder.FullName, "decoder_model_merged.onnx");
            File.Copy(files["encoder"], encoder);
            File.Copy(files["decoder"], decoder);
            var decoderCopy = RewrittenModelFile.CachedPathFor(decoder);
            var restCopy = RewrittenModelFile.CachedEncoderPartPathFor(encoder, "rest");
            var goodDecoderCopy = File.ReadAllBytes(RewrittenModelFile.Prepare(files["decoder"]).Path);
            var goodRestCopy = File.ReadAllBytes(RewrittenModelFile.PrepareEncoderPart(files["encoder"], "rest").Path);
            File.WriteAllBytes(decoderCopy, goodDecoderCopy[..(goodDecoderCopy.Length / 2)]);
            File.WriteAllBytes(restCopy, [.. Enumerable.Repeat((byte)0x5a, 4096)]);

            var log = new List<string>();
            using var recognizer = OnnxSpeechModels.LoadRecognizer(folder.FullName, new InferenceOptions(), models.Cache, log: log.Add);
            using var session = (MoonshineDecoderSession)recognizer.CreateSession();
            using var reference = models.Tiny.CreateSession();
            var samples = TestData.Read(TestData.Wavs("librispeech-test-other-dev")[0]);
            var update = session.Recognize(samples.AsSpan(0, samples.Length / 2), []);

            Assert.Equal(reference.Recognize(samples).Text, session.Recognize(samples).Text);
            Assert.NotNull(session.IncrementalEncoder);
            Assert.NotEmpty(update.Text);
            Assert.Collection(
                log,
                line => Assert.Contains($"{decoderCopy} could not be loaded", line),
                line => Assert.Contains($"{restCopy} could not be loaded", line));
            Assert.Equal(goodDecoderCopy, File.ReadAllBytes(decoderCopy));
            Assert.Equal(goodRestCopy, File.ReadAllBytes(restCopy));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static int CountMatMulsOfDequantized(OnnxGraph graph)
    {
        var count = 0;
        var dequantized = graph.Node.Where(n => n.OpType == "DequantizeLinear").Select(n => n.Output[0]).ToHashSet();
        foreach (var node in graph.Node)
        {
            if (node.OpType == "MatMul" && dequantized.Contains(node.Input[1]))
            {
                count++;
            }

            foreach (var attribute in node.Attribute.Where(a => a.G is not null))
            {
                count += CountMatMulsOfDequantized(attribute.G);
            }
        }

        return count;
    }

    /// <summary>y = x · DequantizeLinear(w, w_scale, w_zero), with w an int8 [3, 4] initializer.</summary>
    private static Model HandBuilt(long[] scaleDims) => new()
    {
        OpsetImport = { new OperatorSet { Domain = "", Version = 14 } },
        Graph = new OnnxGraph
        {
            Initializer =
            {
                new Tensor { Name = "w", DataType = 3, Dims = { 3, 4 } },
                new Tensor { Name = "w_scale", DataType = 1, Dims = { scaleDims } },
                new Tensor { Name = "w_zero", DataType = 3, Dims = { scaleDims } },
            },
            Node =
            {
                new Node { Name = "dq", OpType = "DequantizeLinear", Input = { "w", "w_scale", "w_zero" }, Output = { "w_float" } },
                new Node { Name = "mm", OpType = "MatMul", Input = { "x", "w_float" }, Output = { "y" } },
            },
        },
    };

    // Model.graph (field 7) holding only GraphProto.doc_string (field 10): the two Graph submessages merge on parse.
    private static byte[] GraphDocString(string text)
    {
        var inner = Concat([0x52, (byte)text.Length], System.Text.Encoding.ASCII.GetBytes(text));
        return Concat([0x3A, (byte)inner.Length], inner);
    }

    private static byte[] Concat(byte[] a, byte[] b) => [.. a, .. b];
}
