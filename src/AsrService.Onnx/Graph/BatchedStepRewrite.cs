using System.Buffers.Binary;
using AsrService.Core.Models;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>
/// Builds, from Moonshine's merged decoder, a model for decoder steps whose batch rows belong to different segments
/// (<see cref="MoonshineGroupDecoder"/>). It is the merged decoder's cached-step branch (<c>use_cache_branch</c> =
/// true) made into a model of its own, with these changes, which make every row's result independent of the other rows:
/// <list type="bullet">
/// <item>Cross-attention takes an additive bias, <see cref="CrossAttentionBias"/> ([batch, 1, 1, frames]), before its
/// softmax: 0 on a row's own encoder frames and -infinity on the padding that brings shorter segments up to the
/// longest, so padded frames get no weight.</item>
/// <item>Self-attention takes one too, <see cref="SelfAttentionBias"/> ([batch, 1, 1, past + 1]), in place of the
/// causal mask the step built from the cache length (all zeros for one new token). A row whose own past is shorter
/// than the batch's is padded at the front, and the bias gives that padding no weight.</item>
/// <item>Each row's rotary position is an input, <see cref="PositionIds"/> ([batch, 1]: the length of the row's own
/// past), instead of the cache length, which is the batch's. Keys are rotated before they enter the cache, so a
/// row's cached keys do not depend on where in the padded cache they sit.</item>
/// <item>Activations are quantized per row. The int8 layers quantize their input with one scale and zero point per
/// call (<c>DynamicQuantizeLinear</c>, and <c>DynamicQuantizeMatMul</c> after <see cref="QuantizedMatMulRewrite"/>),
/// so in a batch every row would be rounded on the scale of the row with the largest values. Each such point is
/// written out instead with ONNX Runtime's own formulas (range widened to include 0, scale = range / 255, zero point
/// = round(-min / scale) clamped to [0, 255], q = clamp(round(x / scale) + zero point)) over each row. ONNX Runtime
/// accepts only one zero point per <c>MatMulInteger</c>, so the product runs with zero point 0 and the row's zero
/// point times the weight's column sums is subtracted afterwards in int32, which is exact.</item>
/// </list>
/// The first call of a segment (the branch that computes the cross-attention caches) stays with the merged model at
/// batch 1; a segment joins the batch after it.
/// </summary>
internal static class BatchedStepRewrite
{
    /// <summary>Bumped whenever the output changes, so that cached files are rebuilt.</summary>
    public const int Version = 3;

    public const string CrossAttentionBias = "cross_attn_bias";

    public const string SelfAttentionBias = "self_attn_bias";

    public const string PositionIds = "position_ids";

    private const int Float = 1;
    private const int UInt8 = 2;
    private const int Int8 = 3;
    private const int Int32 = 6;
    private const int Int64 = 7;
    private const string Zero = "asr_row_quantization/zero";
    private const string QuantizedMaximum = "asr_row_quantization/255";
    private const string SmallestScale = "asr_row_quantization/smallest_scale";

    /// <summary>
    /// Returns the serialized step model, taking its cross-attention keys transposed and scaled
    /// (<see cref="CrossAttentionKeyRewrite"/>) or as exported, to match the solo decoder whose first calls feed it.
    /// Throws <see cref="ModelLoadException"/> when the decoder does not have the expected shape.
    /// </summary>
    public static byte[] Rewrite(ReadOnlySpan<byte> mergedDecoder, bool crossKeysTransposed)
    {
        var model = Model.Parser.ParseFrom(mergedDecoder);
        QuantizedMatMulRewrite.Apply(model);
        if (crossKeysTransposed && CrossAttentionKeyRewrite.Apply(model) == 0)
        {
            throw new ModelLoadException("unexpected decoder graph: the cross-attention keys could not be re-laid");
        }

        var merged = model.Graph ?? throw new ModelLoadException("the decoder model has no graph");
        var branch = merged.Node.Count == 1 && merged.Node[0].OpType == "If"
            ? merged.Node[0].Attribute.FirstOrDefault(a => a.Name == "then_branch")?.G
            : null;
        if (branch is null)
        {
            throw new ModelLoadException("the decoder is not a merged decoder (one If node on use_cache_branch)");
        }

        ReplacePositions(branch);
        ReplaceSelfAttentionMasks(branch);
        var outputs = merged.Output.Where(o => o.Name == "logits" || o.Name.Contains(".decoder.", StringComparison.Ordinal)).ToList();
        var step = new Proto.Graph { Name = "batched_decoder_step" };
        step.Node.AddRange(GraphEdit.LiveNodes(branch.Node, outputs.Select(o => o.Name)));
        step.Output.AddRange(outputs);

        var initializers = merged.Initializer.Concat(branch.Initializer).ToDictionary(t => t.Name);
        var context = new Context(step, initializers);
        RewriteQuantization(context);
        var biased = AddCrossAttentionBias(step);
        if (biased == 0)
        {
            throw new ModelLoadException("unexpected decoder graph: no cross-attention softmax (…/encoder_attn/Softmax) found");
        }

        var read = new HashSet<string>();
        QuantizedMatMulRewrite.CollectInputs(step, read);
        step.Initializer.AddRange(initializers.Values.Where(t => read.Contains(t.Name)));
        step.Input.AddRange(merged.Input.Where(i => read.Contains(i.Name) && !initializers.ContainsKey(i.Name)));
        step.Input.Add(FloatInput(CrossAttentionBias, "encoder_sequence_length"));
        step.Input.Add(FloatInput(SelfAttentionBias, "total_decoder_sequence_length"));
        step.Input.Add(new ValueInfo
        {
            Name = PositionIds,
            Type = new TypeInfo { TensorType = new TensorType { ElemType = Int64, Shape = new TensorShape { Dim = { new Dimension { DimParam = "batch_size" }, new Dimension { DimValue = 1 } } } } },
        });
        model.Graph = step;
        return model.ToByteArray();
    }

    /// <summary>Counts what a rewrite changed (for tests): quantization points, biased cross- and self-attention
    /// softmaxes, readers of the position input, and nodes.</summary>
    internal static (int QuantizationPoints, int Softmaxes, int SelfAttentionMasks, int PositionReaders, int Nodes) Describe(ReadOnlySpan<byte> stepModel)
    {
        var graph = Model.Parser.ParseFrom(stepModel).Graph;
        return (
            graph.Node.Count(n => n.OpType == "ReduceMin"),
            graph.Node.Count(n => n.Input.Contains(CrossAttentionBias)),
            graph.Node.Count(n => n.Input.Contains(SelfAttentionBias)),
            graph.Node.Count(n => n.Input.Contains(PositionIds)),
            graph.Node.Count);
    }

    /// <summary>
    /// Points the rotary embedding at <see cref="PositionIds"/>. As exported, the positions of the new tokens are
    /// <c>Range(past length, past length + tokens)</c>, unsqueezed to [1, tokens] by <c>/model/decoder/Unsqueeze</c>,
    /// whose one reader is in <c>rotary_emb</c>; a [batch, 1] tensor broadcasts through the same nodes.
    /// </summary>
    private static void ReplacePositions(Proto.Graph branch)
    {
        var positions = branch.Node.FirstOrDefault(n => n.Name == "/model/decoder/Unsqueeze" && n.OpType == "Unsqueeze")?.Output[0];
        var readers = positions is null ? [] : branch.Node.Where(n => n.Input.Contains(positions)).ToList();
        if (readers.Count != 1 || !readers[0].Name.Contains("/rotary_emb/", StringComparison.Ordinal))
        {
            throw new ModelLoadException("unexpected decoder graph: the rotary embedding's positions (/model/decoder/Unsqueeze) were not found");
        }

        GraphEdit.RenameInput(readers[0], positions!, PositionIds);
    }

    /// <summary>
    /// Replaces the causal mask that each self-attention adds before its softmax (<c>…/self_attn/Softmax</c> reads
    /// <c>Add(scores, Slice(mask))</c>) with <see cref="SelfAttentionBias"/>.
    /// </summary>
    private static void ReplaceSelfAttentionMasks(Proto.Graph branch)
    {
        var producers = GraphEdit.Producers(branch);
        var replaced = 0;
        foreach (var softmax in branch.Node.Where(n => n.OpType == "Softmax" && n.Name.Contains("/self_attn/", StringComparison.Ordinal)))
        {
            var add = producers.GetValueOrDefault(softmax.Input[0]);
            var masks = add?.OpType == "Add" ? add.Input.Where(i => producers.GetValueOrDefault(i)?.OpType == "Slice").ToList() : [];
            if (masks.Count != 1)
            {
                throw new ModelLoadException($"unexpected decoder graph: {softmax.Name} does not read Add(scores, mask)");
            }

            GraphEdit.RenameInput(add!, masks[0], SelfAttentionBias);
            replaced++;
        }

        if (replaced == 0)
        {
            throw new ModelLoadException("unexpected decoder graph: no self-attention softmax (…/self_attn/Softmax) found");
        }
    }

    private sealed class Context(Proto.Graph graph, Dictionary<string, Tensor> initializers)
    {
        public Proto.Graph Graph { get; } = graph;

        public Dictionary<string, Tensor> Initializers { get; } = initializers;

        /// <summary>The rewritten node list, in order; <see cref="Emit"/> appends to it.</summary>
        public List<Node> Nodes { get; } = [];

        public void Emit(string opType, string[] inputs, string output, params Proto.Attribute[] attributes) =>
            Nodes.Add(new Node { Name = output, OpType = opType, Input = { inputs }, Output = { output }, Attribute = { attributes } });

        public void Constant(string name, int dataType, long[] dims, byte[] data)
        {
            if (!Initializers.ContainsKey(name))
            {
                Initializers[name] = new Tensor { Name = name, DataType = dataType, Dims = { dims }, RawData = ByteString.CopyFrom(data) };
            }
        }
    }

    private static void RewriteQuantization(Context context)
    {
        var graph = context.Graph;
        context.Constant(Zero, Float, [], BitConverter.GetBytes(0f));
        context.Constant(QuantizedMaximum, Float, [], BitConverter.GetBytes(255f));
        context.Constant(SmallestScale, Float, [], BitConverter.GetBytes(float.Epsilon * (1 << 23)));
        var transposed = new Dictionary<string, Tensor>();
        foreach (var node in graph.Node)
        {
            if (QuantizedMatMulRewrite.IsWeightTranspose(node, context.Initializers, out var weight))
            {
                transposed[node.Output[0]] = weight;
            }
        }

        var rowZeroPoints = graph.Node.Where(n => n.OpType == "DynamicQuantizeLinear" && n.Domain.Length == 0).Select(n => n.Output[2]).ToHashSet();
        var rewritten = context.Nodes;
        foreach (var node in graph.Node)
        {
            if (node.OpType == "DynamicQuantizeLinear" && node.Domain.Length == 0)
            {
                QuantizeRows(context, node.Input[0], node.Output[0], node.Output[1], ZeroPointInt32(node.Output[2]));
                continue;
            }

            if (node.OpType == "MatMulInteger" && node.Input.Count == 4 && rowZeroPoints.Contains(node.Input[2]))
            {
                // The activation's zero point is now one per row: run with none and subtract its share after.
                var zeroPoint = ZeroPointInt32(node.Input[2]);
                var raw = node.Output[0] + "/without_zero_point";
                var product = node.Clone();
                product.Input[2] = string.Empty;
                product.Output[0] = raw;
                rewritten.Add(product);
                SubtractZeroPoint(context, raw, zeroPoint, node.Input[1], node.Input[3], transposed, node.Output[0]);
                continue;
            }

            if (node.OpType == "DynamicQuantizeMatMul" && node.Input.Count == 4)
            {
                var x = node.Input[0];
                var output = node.Output[0];
                QuantizeRows(context, x, output + "/quantized", output + "/scale", output + "/zero_point");
                context.Emit("MatMulInteger", [output + "/quantized", node.Input[1], string.Empty, node.Input[3]], output + "/without_zero_point");
                SubtractZeroPoint(context, output + "/without_zero_point", output + "/zero_point", node.Input[1], node.Input[3], transposed, output + "/int32");
                context.Emit("Cast", [output + "/int32"], output + "/float", GraphEdit.IntAttribute("to", Float));
                context.Emit("Mul", [output + "/scale", node.Input[2]], output + "/output_scale");
                context.Emit("Mul", [output + "/float", output + "/output_scale"], output);
                continue;
            }

            rewritten.Add(node);
        }

        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
    }

    private static string ZeroPointInt32(string zeroPoint) => zeroPoint + "/int32";

    /// <summary>
    /// Per-row DynamicQuantizeLinear of <paramref name="x"/> ([batch, …]): writes the uint8 values to
    /// <paramref name="quantized"/>, the scale ([batch, 1, 1]) to <paramref name="scale"/> and the zero point as int32 to
    /// <paramref name="zeroPointInt32"/>.
    /// </summary>
    private static void QuantizeRows(Context c, string x, string quantized, string scale, string zeroPointInt32)
    {
        var p = x + "/row_quantization/";
        long[] rowAxes = [1, 2];
        c.Emit("ReduceMin", [x], p + "min", GraphEdit.IntsAttribute("axes", rowAxes), GraphEdit.IntAttribute("keepdims", 1));
        c.Emit("ReduceMax", [x], p + "max", GraphEdit.IntsAttribute("axes", rowAxes), GraphEdit.IntAttribute("keepdims", 1));
        c.Emit("Min", [p + "min", Zero], p + "low");
        c.Emit("Max", [p + "max", Zero], p + "high");
        c.Emit("Sub", [p + "high", p + "low"], p + "range");
        c.Emit("Div", [p + "range", QuantizedMaximum], p + "range_scale");

        // ONNX Runtime uses scale 1 for a row of zeros; any positive scale gives the same zeros downstream.
        c.Emit("Max", [p + "range_scale", SmallestScale], scale);
        c.Emit("Div", [p + "low", scale], p + "low_scaled");
        c.Emit("Neg", [p + "low_scaled"], p + "zero_point_unclamped");
        c.Emit("Clip", [p + "zero_point_unclamped", Zero, QuantizedMaximum], p + "zero_point_clamped");
        c.Emit("Round", [p + "zero_point_clamped"], p + "zero_point");
        c.Emit("Cast", [p + "zero_point"], zeroPointInt32, GraphEdit.IntAttribute("to", Int32));
        c.Emit("Div", [x, scale], p + "scaled");
        c.Emit("Round", [p + "scaled"], p + "rounded");
        c.Emit("Add", [p + "rounded", p + "zero_point"], p + "shifted");
        c.Emit("Clip", [p + "shifted", Zero, QuantizedMaximum], p + "clamped");
        c.Emit("Cast", [p + "clamped"], quantized, GraphEdit.IntAttribute("to", UInt8));
    }

    /// <summary>output = product − zeroPoint × Σₖ (W[k, n] − W's zero point), all int32.</summary>
    private static void SubtractZeroPoint(
        Context c, string product, string zeroPointInt32, string weight, string weightZeroPoint, Dictionary<string, Tensor> transposed, string output)
    {
        var sums = weight + "/column_sums";
        if (!c.Initializers.ContainsKey(sums))
        {
            var zero = c.Initializers.TryGetValue(weightZeroPoint, out var z) ? ScalarValue(z)
                : throw new ModelLoadException($"{weightZeroPoint}: a weight zero point that is not a constant cannot be rewritten");
            var columnSums = c.Initializers.TryGetValue(weight, out var w) ? ColumnSums(w, zero, transpose: false)
                : transposed.TryGetValue(weight, out w) ? ColumnSums(w, zero, transpose: true)
                : throw new ModelLoadException($"{weight}: a quantized weight that is not a constant cannot be rewritten");
            var bytes = new byte[columnSums.Length * 4];
            for (var i = 0; i < columnSums.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), columnSums[i]);
            }

            c.Constant(sums, Int32, [columnSums.Length], bytes);
        }

        c.Emit("Mul", [zeroPointInt32, sums], output + "/zero_point_term");
        c.Emit("Sub", [product, output + "/zero_point_term"], output);
    }

    /// <summary>Σ over the rows of a [K, N] weight (or of the transpose of an [N, K] one) of (w − zero point).</summary>
    private static int[] ColumnSums(Tensor weight, int zeroPoint, bool transpose)
    {
        if (weight.Dims.Count != 2 || weight.DataType is not (UInt8 or Int8) || weight.RawData.Length != weight.Dims[0] * weight.Dims[1])
        {
            throw new ModelLoadException($"{weight.Name}: only 2-D int8/uint8 weights stored as raw data can be rewritten");
        }

        var rows = (int)weight.Dims[0];
        var columns = (int)weight.Dims[1];
        var sums = new int[transpose ? rows : columns];
        for (var r = 0; r < rows; r++)
        {
            for (var col = 0; col < columns; col++)
            {
                sums[transpose ? r : col] += Value(weight, r * columns + col) - zeroPoint;
            }
        }

        return sums;
    }

    private static int ScalarValue(Tensor tensor) =>
        tensor.RawData.Length == 1 ? Value(tensor, 0)
        : tensor.Int32Data.Count == 1 ? tensor.Int32Data[0]
        : throw new ModelLoadException($"{tensor.Name}: only a scalar weight zero point can be rewritten");

    private static int Value(Tensor tensor, int index) =>
        tensor.DataType == Int8 ? (sbyte)tensor.RawData[index] : tensor.RawData[index];

    private static int AddCrossAttentionBias(Proto.Graph graph)
    {
        var added = 0;
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (node.OpType != "Softmax" || !node.Name.Contains("/encoder_attn/", StringComparison.Ordinal))
            {
                continue;
            }

            var biased = node.Input[0] + "/biased";
            graph.Node.Insert(i, new Node { Name = biased, OpType = "Add", Input = { node.Input[0], CrossAttentionBias }, Output = { biased } });
            node.Input[0] = biased;
            added++;
        }

        return added;
    }

    /// <summary>A float input of shape [batch_size, 1, 1, <paramref name="length"/>].</summary>
    private static ValueInfo FloatInput(string name, string length) => new()
    {
        Name = name,
        Type = new TypeInfo
        {
            TensorType = new TensorType
            {
                ElemType = Float,
                Shape = new TensorShape
                {
                    Dim =
                    {
                        new Dimension { DimParam = "batch_size" },
                        new Dimension { DimValue = 1 },
                        new Dimension { DimValue = 1 },
                        new Dimension { DimParam = length },
                    },
                },
            },
        },
    };
}
