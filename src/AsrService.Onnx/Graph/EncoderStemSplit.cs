using System.Runtime.InteropServices;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>
/// Splits Moonshine's encoder in two so that an interim update can carry the start of its convolution stem over from
/// the previous update of the same segment (<see cref="IncrementalEncoder"/>).
/// </summary>
/// <remarks>
/// The encoder starts with <c>conv1 → tanh → GroupNorm(1 group) → conv2</c>. conv1 and tanh see only their own window
/// of samples. The group normalization is an affine map per channel, <c>(x - mean) / deviation * gamma + beta</c>,
/// whose only whole-segment inputs are the mean and variance of all of x. conv2 is linear. So
/// <c>conv2(norm(x)) = L / deviation - G * mean / deviation + B</c>, where L is conv2 with gamma folded into its
/// weights and no bias, applied to x itself, and G and B are per-channel constants of the weights. L's frames depend
/// only on their own samples, so they can be kept and computed for new audio only.
/// <list type="bullet">
/// <item>The <b>stem</b> model takes the samples and returns x (<see cref="Activation"/>, [1, channels, frames]) and
/// L (<see cref="Linear"/>, frame-major: [1, frames, channels], so that new frames append).</item>
/// <item>The <b>rest</b> model takes L and the mean and variance of x (<see cref="Moments"/>, [2]) and returns the
/// encoder's output, as the encoder does from the samples.</item>
/// </list>
/// The stem model carries its strides as metadata (<see cref="SamplesPerActivationFrameKey"/>,
/// <see cref="ActivationFramesPerLinearFrameKey"/>). An encoder that does not have this shape is not split.
/// </remarks>
internal static class EncoderStemSplit
{
    /// <summary>Bumped whenever either model changes, so that cached files are rebuilt.</summary>
    public const int Version = 4;

    public const string Activation = "stem_activation";
    public const string Linear = "stem_linear";
    public const string Moments = "stem_moments";
    public const string SamplesPerActivationFrameKey = "asr.stem.samples_per_activation_frame";
    public const string ActivationFramesPerLinearFrameKey = "asr.stem.activation_frames_per_linear_frame";

    private const int Float = GraphEdit.Float;
    private const int Int64 = GraphEdit.Int64;

    /// <summary>The rest model's L, transposed to [1, channels, frames].</summary>
    private const string RestLinearByChannel = "rest/by_channel_out";

    /// <summary>The stem model (samples → x and L), or null when the encoder does not have the expected stem.</summary>
    public static byte[]? Stem(byte[] encoderBytes) => Split(encoderBytes, BuildStem);

    /// <summary>
    /// The rest of the encoder (L and the moments of x → the encoder's output), or null as for <see cref="Stem"/>.
    /// Where the layers after the stem have the expected shape, it can also take the encoding of the segment's first
    /// frames from an earlier call (<see cref="EncoderKeptPrefix"/>; its metadata says whether it does).
    /// </summary>
    public static byte[]? Rest(byte[] encoderBytes) => Split(encoderBytes, BuildRest, model => EncoderKeptPrefix.TryAdd(model, RestLinearByChannel));

    /// <summary>
    /// Parses the encoder, finds its stem, lets <paramref name="build"/> make one part of it, drops what that part
    /// does not need, and lets <paramref name="finish"/> change what is left.
    /// </summary>
    private static byte[]? Split(byte[] encoderBytes, Action<Model, StemPattern> build, Func<Model, bool>? finish = null)
    {
        var model = Model.Parser.ParseFrom(encoderBytes);
        if (Find(model.Graph) is not { } stem)
        {
            return null;
        }

        build(model, stem);
        GraphEdit.KeepOnlyWhatOutputsNeed(model.Graph);
        finish?.Invoke(model);
        return model.ToByteArray();
    }

    private static void BuildStem(Model model, StemPattern stem)
    {
        var graph = model.Graph;
        var weight = stem.Conv.Input[1];
        graph.Node.Add(GraphEdit.NewNode("Mul", "stem/weight", [weight, stem.Gamma], "stem/weight_out"));
        var conv = GraphEdit.NewNode("Conv", "stem/conv", [stem.Activation, "stem/weight_out"], "stem/linear_by_channel");
        conv.Attribute.Add(stem.Conv.Attribute);
        graph.Node.Add(conv);
        graph.Node.Add(GraphEdit.NewNode(
            "Transpose", "stem/by_frame", ["stem/linear_by_channel"], Linear, GraphEdit.IntsAttribute("perm", 0, 2, 1)));
        graph.Node.Add(GraphEdit.NewNode("Identity", "stem/activation", [stem.Activation], Activation));
        graph.Output.Clear();
        graph.Output.Add(FloatValue(Activation));
        graph.Output.Add(FloatValue(Linear));
        model.MetadataProps.Add(GraphEdit.Metadata(SamplesPerActivationFrameKey, stem.FirstStride));
        model.MetadataProps.Add(GraphEdit.Metadata(ActivationFramesPerLinearFrameKey, stem.SecondStride));
    }

    private static void BuildRest(Model model, StemPattern stem)
    {
        var graph = model.Graph;
        var weight = stem.Conv.Input[1];
        var bias = stem.Conv.Input.Count > 2 ? stem.Conv.Input[2] : null;
        var at = graph.Node.IndexOf(stem.Conv);
        graph.Node.RemoveAt(at);
        graph.Initializer.Add(GraphEdit.Int64Tensor("rest/frame_axes", 1, 2));
        graph.Initializer.Add(GraphEdit.Int64Tensor("rest/axis1", 1));
        graph.Initializer.Add(GraphEdit.Int64Tensor("rest/at0", 0));
        graph.Initializer.Add(GraphEdit.Int64Tensor("rest/at1", 1));
        graph.Initializer.Add(GraphEdit.Int64Tensor("rest/at2", 2));
        graph.Initializer.Add(FloatTensor("rest/epsilon", stem.Epsilon));
        List<Node> nodes =
        [
            // Per-channel constants of the weights (folded by ONNX Runtime at load): G = sum(W * gamma), B = sum(W * beta) + bias.
            GraphEdit.NewNode("Mul", "rest/weight_gamma", [weight, stem.Gamma], "rest/weight_gamma_out"),
            GraphEdit.NewNode("ReduceSum", "rest/g", ["rest/weight_gamma_out", "rest/frame_axes"], "rest/g_out", GraphEdit.IntAttribute("keepdims", 0)),
            GraphEdit.NewNode("Unsqueeze", "rest/g_column", ["rest/g_out", "rest/axis1"], "rest/g_column_out"),
            GraphEdit.NewNode("Mul", "rest/weight_beta", [weight, stem.Beta], "rest/weight_beta_out"),
            GraphEdit.NewNode("ReduceSum", "rest/b", ["rest/weight_beta_out", "rest/frame_axes"], "rest/b_out", GraphEdit.IntAttribute("keepdims", 0)),
            .. bias is null
                ? [GraphEdit.NewNode("Identity", "rest/b_bias", ["rest/b_out"], "rest/b_bias_out")]
                : new[] { GraphEdit.NewNode("Add", "rest/b_bias", ["rest/b_out", bias], "rest/b_bias_out") },
            GraphEdit.NewNode("Unsqueeze", "rest/b_column", ["rest/b_bias_out", "rest/axis1"], "rest/b_column_out"),

            // 1 / deviation and mean / deviation from the moments.
            GraphEdit.NewNode("Slice", "rest/mean", [Moments, "rest/at0", "rest/at1"], "rest/mean_out"),
            GraphEdit.NewNode("Slice", "rest/variance", [Moments, "rest/at1", "rest/at2"], "rest/variance_out"),
            GraphEdit.NewNode("Add", "rest/variance_epsilon", ["rest/variance_out", "rest/epsilon"], "rest/variance_epsilon_out"),
            GraphEdit.NewNode("Sqrt", "rest/deviation", ["rest/variance_epsilon_out"], "rest/deviation_out"),
            GraphEdit.NewNode("Reciprocal", "rest/inverse", ["rest/deviation_out"], "rest/inverse_out"),
            GraphEdit.NewNode("Mul", "rest/mean_scaled", ["rest/mean_out", "rest/inverse_out"], "rest/mean_scaled_out"),

            // conv2's output: L / deviation - G * mean / deviation + B.
            GraphEdit.NewNode("Transpose", "rest/by_channel", [Linear], RestLinearByChannel, GraphEdit.IntsAttribute("perm", 0, 2, 1)),
            GraphEdit.NewNode("Mul", "rest/linear_scaled", [RestLinearByChannel, "rest/inverse_out"], "rest/linear_scaled_out"),
            GraphEdit.NewNode("Mul", "rest/g_scaled", ["rest/g_column_out", "rest/mean_scaled_out"], "rest/g_scaled_out"),
            GraphEdit.NewNode("Sub", "rest/centred", ["rest/linear_scaled_out", "rest/g_scaled_out"], "rest/centred_out"),
            GraphEdit.NewNode("Add", "rest/conv", ["rest/centred_out", "rest/b_column_out"], stem.Conv.Output[0]),
        ];
        for (var i = nodes.Count - 1; i >= 0; i--)
        {
            graph.Node.Insert(at, nodes[i]);
        }

        graph.Input.Clear();
        graph.Input.Add(FloatValue(Linear));
        graph.Input.Add(FloatValue(Moments));
    }

    private sealed record StemPattern(string Activation, string Gamma, string Beta, Node Conv, float Epsilon, long FirstStride, long SecondStride);

    /// <summary>
    /// Finds <c>Conv(stride s1) → Tanh → Reshape(to one group) → InstanceNormalization(scale 1, bias 0) → Reshape →
    /// Mul(gamma) → Add(beta) → Conv(stride s2, no padding, one group)</c>, the stem of Moonshine's encoders.
    /// </summary>
    private static StemPattern? Find(Proto.Graph graph)
    {
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var producers = GraphEdit.Producers(graph);
        var consumers = new Dictionary<string, List<Node>>();
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
            }
        }

        Node? Only(string tensor, string opType) =>
            consumers.TryGetValue(tensor, out var list) && list.Count == 1 && list[0].OpType == opType ? list[0] : null;

        var norms = graph.Node.Where(n => n.OpType == "InstanceNormalization").ToList();
        if (norms.Count != 1 || norms[0].Input.Count < 3
            || !producers.TryGetValue(norms[0].Input[0], out var grouping) || grouping.OpType != "Reshape"
            || !IsOneGroup(initializers, grouping.Input[1])
            || FloatValues(initializers, norms[0].Input[1]) is not [1f] || FloatValues(initializers, norms[0].Input[2]) is not [0f]
            || !producers.TryGetValue(grouping.Input[0], out var tanh) || tanh.OpType != "Tanh"
            || !producers.TryGetValue(tanh.Input[0], out var firstConv) || firstConv.OpType != "Conv")
        {
            return null;
        }

        var norm = norms[0];
        var ungrouping = Only(norm.Output[0], "Reshape");
        var scale = ungrouping is null ? null : Only(ungrouping.Output[0], "Mul");
        var shift = scale is null ? null : Only(scale.Output[0], "Add");
        var conv = shift is null ? null : Only(shift.Output[0], "Conv");
        if (conv is null || conv.Input[0] != shift!.Output[0] || !IsPlain(conv)
            || GraphEdit.OtherInput(scale!, ungrouping!.Output[0]) is not { } gamma || !IsPerChannel(initializers, gamma)
            || GraphEdit.OtherInput(shift, scale!.Output[0]) is not { } beta || !IsPerChannel(initializers, beta)
            || GraphEdit.Stride(firstConv) is not { } firstStride || GraphEdit.Stride(conv) is not { } secondStride)
        {
            return null;
        }

        var epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
        return new StemPattern(tanh.Output[0], gamma, beta, conv, epsilon, firstStride, secondStride);
    }

    private static bool IsPlain(Node conv) =>
        GraphEdit.IsUnpadded(conv)
        && conv.Attribute.All(a => a.Name != "group" || a.I == 1)
        && conv.Attribute.Any(a => a.Name == "kernel_shape" && a.Ints.Count == 1);

    /// <summary>
    /// A float initializer of shape [channels, 1] or [1, channels, 1]: one value per channel of a [batch, channels,
    /// frames] tensor, which is what folding it into conv2's weights along their input channels assumes.
    /// </summary>
    private static bool IsPerChannel(Dictionary<string, Tensor> initializers, string name) =>
        initializers.TryGetValue(name, out var tensor) && tensor.DataType == Float
        && tensor.Dims.Count is 2 or 3 && tensor.Dims[^1] == 1 && tensor.Dims.Take(tensor.Dims.Count - 2).All(d => d == 1);

    /// <summary>A Reshape target of [batch, 1, -1]: every channel and frame in one group.</summary>
    private static bool IsOneGroup(Dictionary<string, Tensor> initializers, string shapeName) =>
        initializers.TryGetValue(shapeName, out var shape) && shape.DataType == Int64
        && GraphEdit.Int64Values(initializers, shapeName) is [_, 1, -1];

    private static float[]? FloatValues(Dictionary<string, Tensor> initializers, string name) =>
        initializers.TryGetValue(name, out var tensor) && tensor.DataType == Float
            ? tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : [.. tensor.FloatData]
            : null;

    private static ValueInfo FloatValue(string name) => GraphEdit.TensorValue(name, Float);

    private static Tensor FloatTensor(string name, float value) =>
        new() { Name = name, DataType = Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(new[] { value }.AsSpan())) };
}
