using AsrService.Core.Recognition;
using AsrService.Onnx;
using AsrService.Onnx.Graph;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = AsrService.Onnx.Graph.Proto.Tensor;
using Xunit.Abstractions;
using OnnxGraph = AsrService.Onnx.Graph.Proto.Graph;

namespace AsrService.Integration.Tests;

/// <summary>
/// The int8 weights (<see cref="Int8WeightRewrite"/>): uint8 weights of the integer products stored as int8 with
/// their zero points moved alike, which must change no result where the CPU has VNNI.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class Int8WeightTests(ModelFixture models, ITestOutputHelper output)
{
    [Fact]
    public void UInt8Weights_BecomeInt8CopiesShiftedBy128_TransposedWhereReadThroughATranspose()
    {
        var model = HandBuilt();

        Assert.Equal(2, Int8WeightRewrite.Apply(model));

        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var product = graph.Node.Single(n => n.OpType == "MatMulInteger");
        var weights = initializers[product.Input[1]];
        Assert.Equal(3, weights.DataType);
        Assert.Equal([3L, 4L], weights.Dims);
        Assert.Equal(Weights.Select(v => (sbyte)(v - 128)), weights.RawData.Select(b => (sbyte)b));
        Assert.Equal(3, initializers[product.Input[3]].DataType);
        Assert.Equal((sbyte)(WeightZero - 128), (sbyte)initializers[product.Input[3]].RawData[0]);

        // The projection read the embedding through a Transpose: its copy is stored transposed, the Transpose goes,
        // and the uint8 embedding stays because the Gather still reads it; the MatMulInteger's uint8 weights go.
        var projection = graph.Node.Single(n => n.OpType == "DynamicQuantizeMatMul");
        var transposed = initializers[projection.Input[1]];
        Assert.Equal([3L, 4L], transposed.Dims);
        for (var row = 0; row < 4; row++)
        {
            for (var column = 0; column < 3; column++)
            {
                Assert.Equal((sbyte)(Embedding[(row * 3) + column] - 128), (sbyte)transposed.RawData[(column * 4) + row]);
            }
        }

        Assert.DoesNotContain(graph.Node, n => n.OpType == "Transpose");
        Assert.Contains(graph.Initializer, t => t.Name == "embedding" && t.DataType == 2);
        Assert.DoesNotContain(graph.Initializer, t => t.Name == "w");
        Assert.Equal(0, Int8WeightRewrite.Apply(model));
    }

    [VnniFact]
    public void HandBuiltGraph_GivesTheSameOutputsWithInt8Weights()
    {
        var before = HandBuilt();
        var after = HandBuilt();
        Int8WeightRewrite.Apply(after);
        using var exported = new InferenceSession(Loadable(before));
        using var rewritten = new InferenceSession(Loadable(after));
        var random = new Random(7);
        for (var trial = 0; trial < 20; trial++)
        {
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("x", new DenseTensor<byte>(Enumerable.Range(0, 6).Select(_ => (byte)random.Next(256)).ToArray(), [2, 3])),
                NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(Enumerable.Range(0, 3).Select(_ => (float)((random.NextDouble() * 8) - 4)).ToArray(), [1, 3])),
                NamedOnnxValue.CreateFromTensor("token", new DenseTensor<long>(new[] { (long)random.Next(4) }, [1])),
            };
            using var expected = exported.Run(inputs);
            using var actual = rewritten.Run(inputs);
            Assert.Equal(expected.Single(v => v.Name == "y").AsEnumerable<int>(), actual.Single(v => v.Name == "y").AsEnumerable<int>());
            Assert.Equal(expected.Single(v => v.Name == "z").AsEnumerable<float>(), actual.Single(v => v.Name == "z").AsEnumerable<float>());
            Assert.Equal(expected.Single(v => v.Name == "e").AsEnumerable<byte>(), actual.Single(v => v.Name == "e").AsEnumerable<byte>());
        }
    }

    [VnniFact]
    public void TinyAndBase_TranscribeWithInt8WeightsExactlyAsWithTheWeightsAsExported()
    {
        foreach (var name in new[] { "tiny", "base" })
        {
            // The switch is read when sessions are created, and both recognizers create theirs as they load.
            var options = new InferenceOptions { IntraOpThreads = 1 };
            var int8 = RewrittenModelFile.WithInt8Weights(true, () => OnnxSpeechModels.LoadRecognizer(name, options, models.Cache));
            var exported = RewrittenModelFile.WithInt8Weights(false, () => OnnxSpeechModels.LoadRecognizer(name, options, models.Cache));
            using (int8)
            using (exported)
            using (var expectedSession = exported.CreateSession())
            using (var actualSession = int8.CreateSession())
            {
                SameDecodes.Assert(expectedSession, actualSession, TestData.Wavs("librispeech-test-other-dev").Take(6), output, $"{name} ");
            }

            // The int8 copies are cached beside the originals, the encoder's too, and no uint8 weight is left in them.
            var files = models.Cache.Ensure(models.Cache.Manifest.Get(name));
            var cachedCopies = RewrittenModelFile.WithInt8Weights(true, () => new[]
            {
                RewrittenModelFile.CachedPathFor(files["encoder"]), RewrittenModelFile.CachedPathFor(files["decoder"]), RewrittenModelFile.CachedSoloStepPathFor(files["decoder"]),
            });
            foreach (var cached in cachedCopies)
            {
                Assert.EndsWith("-int8.onnx", cached);
                Assert.Equal(0, Int8WeightRewrite.Apply(Model.Parser.ParseFrom(File.ReadAllBytes(cached))));
            }
        }
    }

    private static readonly byte[] Weights = [0, 1, 127, 128, 129, 200, 255, 3, 64, 190, 250, 128];
    private static readonly byte[] Embedding = [10, 250, 128, 0, 255, 77, 129, 131, 1, 90, 160, 220];
    private const byte WeightZero = 131;
    private const byte EmbeddingZero = 126;

    /// <summary>
    /// y = MatMulInteger(x, w) with uint8 weights [3, 4]; z = DynamicQuantizeMatMul(h, Transpose(embedding)) with a
    /// uint8 [4, 3] embedding that a Gather also reads (e), as Moonshine's tied embedding and output projection.
    /// </summary>
    private static Model HandBuilt() => new()
    {
        OpsetImport = { new OperatorSet { Domain = "", Version = 17 }, new OperatorSet { Domain = "com.microsoft", Version = 1 } },
        Graph = new OnnxGraph
        {
            Name = "int8-weights",
            Input = { GraphEdit.TensorValue("x", 2), GraphEdit.TensorValue("h", 1), GraphEdit.TensorValue("token", 7) },
            Output = { GraphEdit.TensorValue("y", 6), GraphEdit.TensorValue("z", 1), GraphEdit.TensorValue("e", 2) },
            Initializer =
            {
                new Tensor { Name = "w", DataType = 2, Dims = { 3, 4 }, RawData = ByteString.CopyFrom(Weights) },
                new Tensor { Name = "x_zero", DataType = 2, RawData = ByteString.CopyFrom(5) },
                new Tensor { Name = "w_zero", DataType = 2, Int32Data = { WeightZero } },
                new Tensor { Name = "embedding", DataType = 2, Dims = { 4, 3 }, RawData = ByteString.CopyFrom(Embedding) },
                new Tensor { Name = "embedding_scale", DataType = 1, FloatData = { 0.0123f } },
                new Tensor { Name = "embedding_zero", DataType = 2, Int32Data = { EmbeddingZero } },
            },
            Node =
            {
                new Node { Name = "mm", OpType = "MatMulInteger", Input = { "x", "w", "x_zero", "w_zero" }, Output = { "y" } },
                new Node { Name = "t", OpType = "Transpose", Input = { "embedding" }, Output = { "embedding_t" } },
                new Node { Name = "proj", OpType = "DynamicQuantizeMatMul", Domain = "com.microsoft", Input = { "h", "embedding_t", "embedding_scale", "embedding_zero" }, Output = { "z" } },
                new Node { Name = "lookup", OpType = "Gather", Input = { "embedding", "token" }, Output = { "e" } },
            },
        },
    };

    // ModelProto.ir_version (field 1), which the rewrites' schema leaves out, so that ONNX Runtime loads the model.
    private static byte[] Loadable(Model model) => [0x08, 0x08, .. model.ToByteArray()];
}

/// <summary>A fact that needs a CPU on which the int8 weights are exact (<see cref="Int8WeightRewrite.ExactOnThisCpu"/>).</summary>
internal sealed class VnniFactAttribute : FactAttribute
{
    public VnniFactAttribute()
    {
        if (!Int8WeightRewrite.ExactOnThisCpu)
        {
            Skip = "this CPU has no VNNI, so the models keep their uint8 weights and there is nothing to compare";
        }
        else if (TestData.Root is null)
        {
            Skip = TestData.MissingReason;
        }
    }
}
