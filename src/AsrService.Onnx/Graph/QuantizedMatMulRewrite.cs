using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>
/// A load-time rewrite of dynamically quantized ONNX models. Quantization tools leave some weight matrices as
/// <c>DequantizeLinear(int8 initializer) → MatMul</c>: in Moonshine's decoder that is the output projection to the
/// 32,768-token vocabulary, which then dequantizes 9.4 M weights and streams 38 MB of float32 through a matrix-vector
/// product at every decoder step (ONNX Runtime keeps DequantizeLinear out of constant folding). This rewrite replaces
/// each such pair by one <c>com.microsoft.DynamicQuantizeMatMul</c>, which quantizes the activations on the fly
/// and multiplies against the int8 weights in place, exactly as the model's other quantized layers already do
/// (<c>DynamicQuantizeLinear → MatMulInteger</c>). Like theirs, the activation scale is one per call, over the whole
/// input tensor: at batch 1 and one token that is the activation row, but rows of a batch are quantized together, so
/// a row's result depends on the other rows (see README.md in this folder).
/// </summary>
/// <remarks>
/// Only per-tensor quantization (scalar scale and zero point, an int8 or uint8 weight initializer) is rewritten;
/// anything else is left as it is. Subgraphs (the merged decoder's <c>If</c> branches) are rewritten too, and the
/// initializers they use may live in an enclosing graph.
/// </remarks>
internal static class QuantizedMatMulRewrite
{
    private const string MicrosoftDomain = "com.microsoft";
    private const int Float = 1;
    private const int UInt8 = 2;
    private const int Int8 = 3;

    /// <summary>Rewrites <paramref name="model"/> in place. Returns the number of MatMul nodes replaced; 0 leaves it as it was.</summary>
    public static int Apply(Model model)
    {
        if (model.Graph is null)
        {
            return 0;
        }

        var replaced = RewriteGraph(model.Graph, new Dictionary<string, Tensor>());
        if (replaced > 0 && !model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            model.OpsetImport.Add(new OperatorSet { Domain = MicrosoftDomain, Version = 1 });
        }

        return replaced;
    }

    private static int RewriteGraph(Proto.Graph graph, Dictionary<string, Tensor> outerInitializers)
    {
        var initializers = new Dictionary<string, Tensor>(outerInitializers);
        foreach (var tensor in graph.Initializer)
        {
            initializers[tensor.Name] = tensor;
        }

        var replaced = 0;
        foreach (var node in graph.Node)
        {
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is not null)
                {
                    replaced += RewriteGraph(attribute.G, initializers);
                }

                foreach (var subgraph in attribute.Graphs)
                {
                    replaced += RewriteGraph(subgraph, initializers);
                }
            }
        }

        var transposedWeights = new Dictionary<string, Tensor>();
        foreach (var node in graph.Node)
        {
            if (IsWeightTranspose(node, initializers, out var weight))
            {
                transposedWeights[node.Output[0]] = weight;
            }
        }

        var dequantized = new Dictionary<string, Node>();
        foreach (var node in graph.Node)
        {
            if (IsPerTensorWeightDequantization(node, initializers, transposedWeights))
            {
                dequantized[node.Output[0]] = node;
            }
        }

        if (dequantized.Count == 0)
        {
            return replaced;
        }

        var rewritten = new HashSet<Node>();
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.OpType != "MatMul" || node.Domain.Length != 0 || node.Input.Count != 2
                || !dequantized.TryGetValue(node.Input[1], out var dequantize))
            {
                continue;
            }

            var fused = new Node
            {
                Name = node.Name + "/dynamic_quantize_matmul",
                OpType = "DynamicQuantizeMatMul",
                Domain = MicrosoftDomain,
                Input = { node.Input[0], dequantize.Input[0], dequantize.Input[1], dequantize.Input[2] },
                Output = { node.Output },
            };
            graph.Node[i] = fused;
            rewritten.Add(dequantize);
            replaced++;
        }

        // A dequantization whose output is still read elsewhere (in this graph or a nested one) stays.
        var stillRead = new HashSet<string>(graph.Output.Select(o => o.Name));
        CollectInputs(graph, stillRead);
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (rewritten.Contains(node) && !stillRead.Contains(node.Output[0]))
            {
                graph.Node.RemoveAt(i);
            }
        }

        return replaced;
    }

    /// <summary>
    /// A weight stored one way round and transposed in the graph (tied embedding and output projection); ONNX
    /// Runtime folds the transpose of a constant at load time, so the fused node still gets a constant weight.
    /// </summary>
    internal static bool IsWeightTranspose(Node node, Dictionary<string, Tensor> initializers, out Tensor weight)
    {
        weight = null!;
        if (node.OpType != "Transpose" || node.Domain.Length != 0 || node.Input.Count != 1 || node.Output.Count != 1
            || !initializers.TryGetValue(node.Input[0], out var source) || source.Dims.Count != 2)
        {
            return false;
        }

        var permutation = node.Attribute.FirstOrDefault(a => a.Name == "perm");
        if (permutation is not null && !permutation.Ints.SequenceEqual([1L, 0L]))
        {
            return false;
        }

        weight = source;
        return true;
    }

    private static bool IsPerTensorWeightDequantization(Node node, Dictionary<string, Tensor> initializers, Dictionary<string, Tensor> transposedWeights) =>
        node.OpType == "DequantizeLinear" && node.Domain.Length == 0 && node.Input.Count == 3 && node.Output.Count == 1
        && (initializers.TryGetValue(node.Input[0], out var weight) || transposedWeights.TryGetValue(node.Input[0], out weight))
        && weight.DataType is Int8 or UInt8 && weight.Dims.Count == 2
        && initializers.TryGetValue(node.Input[1], out var scale) && scale.DataType == Float && IsScalar(scale)
        && initializers.TryGetValue(node.Input[2], out var zeroPoint) && zeroPoint.DataType == weight.DataType && IsScalar(zeroPoint);

    private static bool IsScalar(Tensor tensor) => tensor.Dims.All(d => d == 1);

    /// <summary>Adds every name that a node of <paramref name="graph"/> or of a graph nested in it reads.</summary>
    internal static void CollectInputs(Proto.Graph graph, HashSet<string> names)
    {
        foreach (var node in graph.Node)
        {
            names.UnionWith(node.Input);
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is not null)
                {
                    CollectInputs(attribute.G, names);
                }

                foreach (var subgraph in attribute.Graphs)
                {
                    CollectInputs(subgraph, names);
                }
            }
        }
    }
}
