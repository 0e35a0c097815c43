using AsrService.Onnx.Graph.Proto;

namespace AsrService.Onnx.Graph;

/// <summary>
/// Lets the rest of the split encoder (<see cref="EncoderStemSplit"/>) take the encoding of a segment's first frames
/// from an earlier call and compute only the frames from <see cref="TailStart"/> on.
/// </summary>
/// <remarks>
/// After its stem, Moonshine's encoder is a third convolution (no padding), then layers whose only link between frames
/// is self-attention, with rotary positions counted from the first frame. Given the keys and values of every layer and
/// the output for frames [0, start) from an earlier call, the frames from <c>start</c> on need only: L from
/// <c>start × stride</c> on (the convolution's input frames), positions counted from <c>start</c>, and each layer's
/// attention over the kept keys and values followed by the new ones. The model gains these inputs:
/// <list type="bullet">
/// <item><see cref="TailStart"/> (int64 scalar): the first frame computed;</item>
/// <item><see cref="PastHidden"/> ([1, past, hidden]) and, per layer, <c>past_key.N</c> and <c>past_value.N</c>
/// ([1, heads, past, head size], the keys after their rotation, in float16 to halve what a stream keeps); only their
/// first <see cref="TailStart"/> frames are read, so the outputs of the previous call can be passed as they are;</item>
/// <item><see cref="DropFrames"/> (int64 scalar): how many of the last frames' keys and values the presents leave
/// out, the window that the next call computes again anyway;</item>
/// </list>
/// and returns the output of every frame (the kept ones, then the new ones) and every layer's keys and values
/// (<c>present_key.N</c>, <c>present_value.N</c>) for the next call, all but the last <see cref="DropFrames"/>.
/// <para>With <see cref="TailStart"/> 0 and empty past inputs it computes what the encoder computes. With a later
/// start it is an approximation: the kept frames were encoded without the audio that has come since (the encoder is
/// bidirectional), with the normalization moments and activation quantization ranges of their time.</para>
/// The heads and head size are written as metadata (<see cref="HeadsKey"/>, <see cref="HeadSizeKey"/>,
/// <see cref="LayersKey"/>, <see cref="StrideKey"/>), so that empty past inputs can be made before the first call.
/// </remarks>
internal static class EncoderKeptPrefix
{
    public const string TailStart = "tail_start";
    public const string DropFrames = "drop_frames";
    public const string PastHidden = "past_hidden";
    public const string Output = "last_hidden_state";
    public const string HeadsKey = "asr.tail.heads";
    public const string HeadSizeKey = "asr.tail.head_size";
    public const string LayersKey = "asr.tail.layers";
    public const string StrideKey = "asr.tail.linear_frames_per_frame";

    private const int Float = GraphEdit.Float;
    private const int Int64 = GraphEdit.Int64;
    private const int Float16 = GraphEdit.Float16;

    private static readonly HashSet<string> s_frameWise = ["Mul", "Add", "Sub", "Div", "Erf", "Tanh", "Sigmoid", "Transpose"];

    public static string PastKey(int layer) => $"past_key.{layer}";

    public static string PastValue(int layer) => $"past_value.{layer}";

    public static string PresentKey(int layer) => $"present_key.{layer}";

    public static string PresentValue(int layer) => $"present_value.{layer}";

    /// <summary>
    /// Adds the kept-prefix inputs and outputs to the rest model (already cut down to what its output needs), whose
    /// L input is read through <paramref name="linearByChannel"/> ([1, channels, frames]). False, with the model
    /// unchanged, where the graph does not have the expected shape.
    /// </summary>
    public static bool TryAdd(Model model, string linearByChannel)
    {
        var graph = model.Graph;
        var plan = Plan(graph, linearByChannel);
        if (plan is null)
        {
            return false;
        }

        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/zero", 0));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/axis0", 0));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/axis1", 1));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/axis2", 2));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/stride", plan.Stride));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/end", long.MaxValue));
        graph.Initializer.Add(GraphEdit.Int64Tensor("tail/frame_dimension", 1));

        // Each new node goes right before the node that reads it, so the node list stays in topological order.
        graph.Node.Insert(0, GraphEdit.NewNode("Mul", "tail/linear_start", ["tail/start_vector_out", "tail/stride"], "tail/linear_start_out"));
        graph.Node.Insert(0, GraphEdit.NewNode("Unsqueeze", "tail/start_vector", [TailStart, "tail/axis0"], "tail/start_vector_out"));

        // L from the convolution's first input frame on (its one reader was checked by Plan).
        var linearReader = graph.Node.Single(n => n.Input.Contains(linearByChannel));
        GraphEdit.RenameInput(linearReader, linearByChannel, "tail/linear_out");
        InsertBefore(graph, linearReader, GraphEdit.NewNode("Slice", "tail/linear", [linearByChannel, "tail/linear_start_out", "tail/end", "tail/axis2"], "tail/linear_out"));

        // Positions from the first frame computed.
        InsertBefore(graph, plan.Range, GraphEdit.NewNode("Add", "tail/position_end", [TailStart, plan.Range.Input[1]], "tail/position_end_out"));
        plan.Range.Input[0] = TailStart;
        plan.Range.Input[1] = "tail/position_end_out";

        // Each layer attends to the kept keys and values, then the new ones.
        for (var layer = 0; layer < plan.Layers.Count; layer++)
        {
            var (keys, keyReader, values, valueReader) = plan.Layers[layer];
            PrefixThenNew(graph, keyReader, keys, PastKey(layer), PresentKey(layer), $"tail/{layer}/key");
            PrefixThenNew(graph, valueReader, values, PastValue(layer), PresentValue(layer), $"tail/{layer}/value");
        }

        // The output: the kept frames, then the new ones.
        plan.OutputProducer.Output[0] = "tail/new_hidden";
        graph.Node.Add(KeptFrames(PastHidden, "tail/hidden_kept", "tail/axis1"));
        graph.Node.Add(Concat("tail/hidden", ["tail/hidden_kept_out", "tail/new_hidden"], Output, axis: 1));

        // The presents: every frame's keys and values but the last DropFrames (none when there are fewer frames).
        graph.Node.Add(GraphEdit.NewNode("Shape", "tail/output_shape", [Output], "tail/output_shape_out"));
        graph.Node.Add(GraphEdit.NewNode("Gather", "tail/frames", ["tail/output_shape_out", "tail/frame_dimension"], "tail/frames_out"));
        graph.Node.Add(GraphEdit.NewNode("Unsqueeze", "tail/drop_vector", [DropFrames, "tail/axis0"], "tail/drop_vector_out"));
        graph.Node.Add(GraphEdit.NewNode("Sub", "tail/keep_unclamped", ["tail/frames_out", "tail/drop_vector_out"], "tail/keep_unclamped_out"));
        graph.Node.Add(GraphEdit.NewNode("Max", "tail/keep", ["tail/keep_unclamped_out", "tail/zero"], "tail/keep_out"));
        for (var layer = 0; layer < plan.Layers.Count; layer++)
        {
            foreach (var present in new[] { PresentKey(layer), PresentValue(layer) })
            {
                graph.Node.Add(GraphEdit.NewNode("Slice", $"{present}/kept", [$"{present}_all", "tail/zero", "tail/keep_out", "tail/axis2"], present));
            }
        }

        graph.Input.Add(GraphEdit.TensorValue(TailStart, Int64));
        graph.Input.Add(GraphEdit.TensorValue(DropFrames, Int64));
        graph.Input.Add(GraphEdit.TensorValue(PastHidden, Float));
        for (var layer = 0; layer < plan.Layers.Count; layer++)
        {
            graph.Input.Add(GraphEdit.TensorValue(PastKey(layer), Float16));
            graph.Input.Add(GraphEdit.TensorValue(PastValue(layer), Float16));
        }

        for (var layer = 0; layer < plan.Layers.Count; layer++)
        {
            graph.Output.Add(GraphEdit.TensorValue(PresentKey(layer), Float16));
            graph.Output.Add(GraphEdit.TensorValue(PresentValue(layer), Float16));
        }

        model.MetadataProps.Add(GraphEdit.Metadata(HeadsKey, plan.Heads));
        model.MetadataProps.Add(GraphEdit.Metadata(HeadSizeKey, plan.HeadSize));
        model.MetadataProps.Add(GraphEdit.Metadata(LayersKey, plan.Layers.Count));
        model.MetadataProps.Add(GraphEdit.Metadata(StrideKey, plan.Stride));
        return true;
    }

    private sealed record AttentionLayer(string Keys, Node KeyReader, string Values, Node ValueReader);

    private sealed record TailPlan(long Stride, Node Range, List<AttentionLayer> Layers, long Heads, long HeadSize, Node OutputProducer);

    /// <summary>Finds what the rewrite changes; null when the graph is not the shape it expects.</summary>
    private static TailPlan? Plan(Proto.Graph graph, string linearByChannel)
    {
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var producers = GraphEdit.Producers(graph);
        var convs = graph.Node.Where(n => n.OpType == "Conv").ToList();
        var ranges = graph.Node.Where(n => n.OpType == "Range").ToList();
        if (convs.Count != 1 || !GraphEdit.IsUnpadded(convs[0]) || GraphEdit.Stride(convs[0]) is not { } stride
            || ranges.Count != 1 || GraphEdit.Int64Values(initializers, ranges[0].Input[0]) is not [0]
            || GraphEdit.Int64Values(initializers, ranges[0].Input[2]) is not [1]
            || graph.Output.Count != 1 || !producers.TryGetValue(graph.Output[0].Name, out var outputProducer)
            || !OnlyFrameWiseBetween(graph, producers, initializers, linearByChannel, convs[0].Input[0]))
        {
            return null;
        }

        var layers = new List<AttentionLayer>();
        long heads = 0, headSize = 0;
        foreach (var softmax in graph.Node.Where(n => n.OpType == "Softmax"))
        {
            // scores = MatMul(query, Mul(Transpose(keys), scale)); output = MatMul(Softmax(scores), values).
            var valueReader = graph.Node.FirstOrDefault(n => n.OpType == "MatMul" && n.Input[0] == softmax.Output[0]);
            if (!producers.TryGetValue(softmax.Input[0], out var scores) || scores.OpType != "MatMul"
                || !producers.TryGetValue(scores.Input[1], out var scaled) || scaled.OpType != "Mul"
                || !producers.TryGetValue(scaled.Input[0], out var keyReader) || keyReader.OpType != "Transpose"
                || keyReader.Attribute.FirstOrDefault(a => a.Name == "perm") is not { Ints: [0, 1, 3, 2] }
                || valueReader is null
                || HeadShape(graph, producers, initializers, valueReader.Input[1]) is not var (layerHeads, layerHeadSize))
            {
                return null;
            }

            (heads, headSize) = (layerHeads, layerHeadSize);
            layers.Add(new AttentionLayer(keyReader.Input[0], keyReader, valueReader.Input[1], valueReader));
        }

        return layers.Count == 0 ? null : new TailPlan(stride, ranges[0], layers, heads, headSize, outputProducer);
    }

    /// <summary>
    /// Heads and head size of a [1, heads, frames, head size] value made as <c>Transpose(Reshape(x, [batch, -1,
    /// heads, head size]))</c>, where the shape's last two entries are constants.
    /// </summary>
    private static (long Heads, long HeadSize)? HeadShape(
        Proto.Graph graph, Dictionary<string, Node> producers, Dictionary<string, Tensor> initializers, string value)
    {
        if (!producers.TryGetValue(value, out var transpose) || transpose.OpType != "Transpose"
            || transpose.Attribute.FirstOrDefault(a => a.Name == "perm") is not { Ints: [0, 2, 1, 3] }
            || !producers.TryGetValue(transpose.Input[0], out var reshape) || reshape.OpType != "Reshape")
        {
            return null;
        }

        long[]? shape = GraphEdit.Int64Values(initializers, reshape.Input[1]);
        if (shape is null && producers.TryGetValue(reshape.Input[1], out var concat) && concat.OpType == "Concat" && concat.Input.Count == 4)
        {
            shape = GraphEdit.Int64Values(initializers, concat.Input[2]) is [var h] && GraphEdit.Int64Values(initializers, concat.Input[3]) is [var d] ? [0, -1, h, d] : null;
        }

        return shape is [_, _, > 0 and var heads, > 0 and var headSize] ? (heads, headSize) : null;
    }

    /// <summary>
    /// Whether every node on the way from <paramref name="from"/> to <paramref name="to"/> works frame by frame, so
    /// that slicing frames off at <paramref name="from"/> slices the same frames off at <paramref name="to"/>: the
    /// elementwise ops, whose other inputs are constants or do not depend on <paramref name="from"/>.
    /// </summary>
    private static bool OnlyFrameWiseBetween(
        Proto.Graph graph, Dictionary<string, Node> producers, Dictionary<string, Tensor> initializers, string from, string to)
    {
        var pending = new Stack<string>([to]);
        var seen = new HashSet<string>();
        var reached = false;
        while (pending.TryPop(out var value))
        {
            if (value == from)
            {
                reached = true;
                continue;
            }

            if (!seen.Add(value) || initializers.ContainsKey(value) || !producers.TryGetValue(value, out var node))
            {
                continue;
            }

            if (DependsOn(producers, value, from) && !s_frameWise.Contains(node.OpType))
            {
                return false;
            }

            foreach (var input in node.Input)
            {
                pending.Push(input);
            }
        }

        return reached && graph.Node.Count(n => n.Input.Contains(from)) == 1;
    }

    private static bool DependsOn(Dictionary<string, Node> producers, string value, string on)
    {
        var pending = new Stack<string>([value]);
        var seen = new HashSet<string>();
        while (pending.TryPop(out var current))
        {
            if (current == on)
            {
                return true;
            }

            if (seen.Add(current) && producers.TryGetValue(current, out var node))
            {
                foreach (var input in node.Input)
                {
                    pending.Push(input);
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Makes <paramref name="reader"/> read <c>Concat(first TailStart frames of past, fresh)</c> on the frame axis
    /// (2) instead of <paramref name="fresh"/>, and writes it in float16 as <c>PRESENT_all</c>, which the output
    /// <paramref name="present"/> cuts short.
    /// </summary>
    private static void PrefixThenNew(Proto.Graph graph, Node reader, string fresh, string past, string present, string name)
    {
        GraphEdit.RenameInput(reader, fresh, $"{name}_all");
        InsertBefore(graph, reader, KeptFrames(past, $"{name}_kept", "tail/axis2"));
        InsertBefore(graph, reader, Cast($"{name}_kept_float", $"{name}_kept_out", $"{name}_kept_float_out", Float));
        InsertBefore(graph, reader, Concat(name, [$"{name}_kept_float_out", fresh], $"{name}_all", axis: 2));
        InsertBefore(graph, reader, Cast($"{name}_present", $"{name}_all", $"{present}_all", Float16));
    }

    private static Node Cast(string name, string input, string output, int to)
    {
        var cast = GraphEdit.NewNode("Cast", name, [input], output);
        cast.Attribute.Add(GraphEdit.IntAttribute("to", to));
        return cast;
    }

    /// <summary>The first <see cref="TailStart"/> frames of <paramref name="past"/> along <paramref name="axis"/>, as <c>NAME_out</c>.</summary>
    private static Node KeptFrames(string past, string name, string axis) =>
        GraphEdit.NewNode("Slice", name, [past, "tail/zero", "tail/start_vector_out", axis], $"{name}_out");

    private static Node Concat(string name, string[] inputs, string output, long axis)
    {
        var concat = GraphEdit.NewNode("Concat", name, inputs, output);
        concat.Attribute.Add(GraphEdit.IntAttribute("axis", axis));
        return concat;
    }

    private static void InsertBefore(Proto.Graph graph, Node reader, Node node) => graph.Node.Insert(graph.Node.IndexOf(reader), node);
}
