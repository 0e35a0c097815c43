using AsrService.Onnx.Graph.Proto;

namespace AsrService.Onnx.Graph;

/// <summary>
/// A load-time rewrite of Moonshine's merged decoder that stores each layer's cross-attention keys the way the
/// attention reads them. As exported, the first call returns the keys as [batch, heads, frames, head size], and every
/// later step transposes that cache to [batch, heads, head size, frames] and multiplies it by the attention scale
/// before its query-key product: two passes over the largest tensor of the step (frames × hidden floats per layer,
/// about 2 MB per step for 7.5 s of tiny), for a value that never changes after the first call. After the rewrite the
/// first call returns the transposed, scaled keys it already computes for its own attention, and the cached steps
/// feed them straight into the product. The arithmetic is the same, float for float; only where it happens moves.
/// </summary>
/// <remarks>
/// The key caches' declared shapes (decoder inputs and outputs, both branches) become [batch, heads, head size,
/// frames]; <see cref="MoonshineLayout.CrossKeysTransposed"/> tells the decoders which layout a loaded model has. The
/// rewrite applies to every layer or to none: a decoder whose branches do not have the expected nodes is left as it is.
/// </remarks>
internal static class CrossAttentionKeyRewrite
{
    /// <summary>Rewrites the merged decoder in <paramref name="model"/>; returns the layers changed (0: model untouched).</summary>
    public static int Apply(Model model)
    {
        var graph = model.Graph;
        if (graph is null || graph.Node.Count != 1 || graph.Node[0].OpType != "If")
        {
            return 0;
        }

        var first = graph.Node[0].Attribute.FirstOrDefault(a => a.Name == "else_branch")?.G;
        var cached = graph.Node[0].Attribute.FirstOrDefault(a => a.Name == "then_branch")?.G;
        if (first is null || cached is null)
        {
            return 0;
        }

        var edits = new List<LayerEdit>();
        for (var layer = 0; graph.Output.Any(o => o.Name == PresentKey(layer)); layer++)
        {
            if (Match(first, cached, layer) is not { } edit)
            {
                return 0;
            }

            edits.Add(edit);
        }

        foreach (var edit in edits)
        {
            Rewrite(graph, first, cached, edit);
        }

        return edits.Count;
    }

    private static string PresentKey(int layer) => $"present.{layer}.encoder.key";

    private static string PastKey(int layer) => $"past_key_values.{layer}.encoder.key";

    /// <summary>
    /// The nodes one layer's rewrite touches. First call: the keys K (heads split out) go to the output through
    /// <c>Transpose(0,2,1,3)</c> and to the attention through <c>Transpose(0,2,3,1)</c> then <c>Mul</c> by the scale.
    /// Cached steps: the past keys go through <c>Transpose(0,1,3,2)</c> then <c>Mul</c> by the same scale.
    /// </summary>
    private sealed record LayerEdit(int Layer, Node FirstOutputTranspose, Node FirstScale, Node CachedTranspose, Node CachedScale);

    private static LayerEdit? Match(Proto.Graph first, Proto.Graph cached, int layer)
    {
        var outputTranspose = first.Node.FirstOrDefault(n => n.Output.Contains(PresentKey(layer)));
        if (outputTranspose is null || !IsTranspose(outputTranspose, [0, 2, 1, 3]))
        {
            return null;
        }

        var keys = outputTranspose.Input[0];
        var attentionTranspose = first.Node.FirstOrDefault(n => n.Input.Count == 1 && n.Input[0] == keys && IsTranspose(n, [0, 2, 3, 1]));
        var firstScale = attentionTranspose is null ? null : SoleReader(first, attentionTranspose.Output[0]);
        var cachedTranspose = SoleReader(cached, PastKey(layer));
        var cachedScale = cachedTranspose is null ? null : SoleReader(cached, cachedTranspose.Output[0]);
        if (firstScale is null || cachedTranspose is null || cachedScale is null || !IsTranspose(cachedTranspose, [0, 1, 3, 2])
            || firstScale.OpType != "Mul" || cachedScale.OpType != "Mul")
        {
            return null;
        }

        // Both branches were exported from one module, so the same scale has the same name in each.
        var firstFactor = GraphEdit.OtherInput(firstScale, attentionTranspose!.Output[0]);
        var cachedFactor = GraphEdit.OtherInput(cachedScale, cachedTranspose.Output[0]);
        return firstFactor is not null && firstFactor == cachedFactor
            ? new LayerEdit(layer, outputTranspose, firstScale, cachedTranspose, cachedScale)
            : null;
    }

    private static void Rewrite(Proto.Graph graph, Proto.Graph first, Proto.Graph cached, LayerEdit edit)
    {
        var present = PresentKey(edit.Layer);
        var past = PastKey(edit.Layer);

        // First call: the scaled, transposed keys become the output; the output's own transpose goes.
        var scaled = edit.FirstScale.Output[0];
        first.Node.Remove(edit.FirstOutputTranspose);
        GraphEdit.RenameInput(first, scaled, present);
        edit.FirstScale.Output[0] = present;

        // Cached steps: the product reads the past keys as they come.
        var cachedScaled = edit.CachedScale.Output[0];
        cached.Node.Remove(edit.CachedTranspose);
        cached.Node.Remove(edit.CachedScale);
        GraphEdit.RenameInput(cached, cachedScaled, past);
        RemoveValueInfo(first, scaled, present);
        RemoveValueInfo(cached, edit.CachedTranspose.Output[0], cachedScaled);

        // The cached branch returns an empty placeholder for the keys; give it the new layout's shape too.
        var placeholder = cached.Node.FirstOrDefault(n => n.OpType == "Constant" && n.Output.Contains(present));
        if (placeholder?.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { Dims.Count: 4 } value)
        {
            (value.Dims[2], value.Dims[3]) = (value.Dims[3], value.Dims[2]);
        }

        SwapLastTwo(graph.Input.FirstOrDefault(i => i.Name == past));
        SwapLastTwo(graph.Output.FirstOrDefault(o => o.Name == present));
        SwapLastTwo(first.Output.FirstOrDefault(o => o.Name == present));
        SwapLastTwo(cached.Output.FirstOrDefault(o => o.Name == present));
    }

    private static bool IsTranspose(Node node, long[] permutation) =>
        node.OpType == "Transpose" && node.Domain.Length == 0 && node.Output.Count == 1
        && node.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints.SequenceEqual(permutation) == true;

    private static Node? SoleReader(Proto.Graph graph, string name)
    {
        var readers = graph.Node.Where(n => n.Input.Contains(name)).Take(2).ToList();
        return readers.Count == 1 ? readers[0] : null;
    }

    private static void RemoveValueInfo(Proto.Graph graph, params string[] names)
    {
        for (var i = graph.ValueInfo.Count - 1; i >= 0; i--)
        {
            if (names.Contains(graph.ValueInfo[i].Name))
            {
                graph.ValueInfo.RemoveAt(i);
            }
        }
    }

    private static void SwapLastTwo(ValueInfo? value)
    {
        if (value?.Type?.TensorType?.Shape is { Dim.Count: 4 } shape)
        {
            (shape.Dim[2], shape.Dim[3]) = (shape.Dim[3], shape.Dim[2]);
        }
    }
}
