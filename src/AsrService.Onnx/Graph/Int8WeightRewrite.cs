using System.Runtime.Intrinsics.X86;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>
/// Stores the uint8 weights of the integer matrix products (<c>MatMulInteger</c>, <c>com.microsoft.DynamicQuantizeMatMul</c>)
/// as int8, with their zero points moved by the same 128: <c>(w - z) = ((w - 128) - (z - 128))</c>, so every weight
/// dequantizes to the same value and every integer sum is the same. Moonshine's int8 export stores all its weights as
/// uint8. ONNX Runtime's CPU kernels (MLAS) multiply uint8 activations by uint8 weights with a kernel that widens both
/// to 16 bits, and have no matrix-vector kernel for them; uint8 by int8 runs on the VNNI dot-product instructions,
/// with a matrix-vector kernel for one row, which is a decoder step. A tiny step then takes 0.85 of the time and an
/// encoder run 0.78, with bit-identical outputs (benchmarks/results/2026-12-07-int8-weights.md).
/// </summary>
/// <remarks>
/// Bit-identical only where MLAS multiplies uint8 by int8 with VNNI (<c>vpdpbusd</c>: four products summed straight
/// into 32 bits). Without VNNI, x86 kernels for uint8 by int8 add pairs of products in saturating 16-bit arithmetic,
/// which can clip a sum; so the rewrite is applied only where <see cref="ExactOnThisCpu"/>. A weight read through a
/// <c>Transpose</c> (the output projection is the transposed token embedding) gets an int8 copy stored already
/// transposed, and the uint8 original stays for the nodes that still read it (the embedding lookup).
/// </remarks>
internal static class Int8WeightRewrite
{
    private const int UInt8 = 2;
    private const int Int8 = 3;

    /// <summary>
    /// Whether this CPU has the VNNI instructions with which ONNX Runtime multiplies uint8 by int8 exactly: AVX-512
    /// (F, BW, DQ, VL) with AVX512_VNNI, or AVX-VNNI. False on other architectures, where the weights stay as exported.
    /// </summary>
    public static bool ExactOnThisCpu { get; } = HasVnni();

    /// <summary>Rewrites <paramref name="model"/> in place; returns the number of nodes that now take int8 weights.</summary>
    public static int Apply(Model model)
    {
        if (model.Graph is null)
        {
            return 0;
        }

        var copies = new Dictionary<string, string>();
        var replaced = RewriteGraph(model.Graph, new Dictionary<string, (Tensor, Proto.Graph)>(), new Dictionary<string, (Node, Proto.Graph)>(), copies);
        if (replaced > 0)
        {
            RemoveUnread(model.Graph, copies.Keys.Select(key => key.Split('\n')[0]).ToHashSet());
        }

        return replaced;
    }

    private static int RewriteGraph(
        Proto.Graph graph, Dictionary<string, (Tensor Tensor, Proto.Graph Owner)> outerInitializers,
        Dictionary<string, (Node Node, Proto.Graph Owner)> outerTransposes, Dictionary<string, string> copies)
    {
        var initializers = new Dictionary<string, (Tensor Tensor, Proto.Graph Owner)>(outerInitializers);
        foreach (var tensor in graph.Initializer)
        {
            initializers[tensor.Name] = (tensor, graph);
        }

        var transposes = new Dictionary<string, (Node Node, Proto.Graph Owner)>(outerTransposes);
        foreach (var node in graph.Node)
        {
            if (QuantizedMatMulRewrite.IsWeightTranspose(node, initializers.ToDictionary(p => p.Key, p => p.Value.Tensor), out _))
            {
                transposes[node.Output[0]] = (node, graph);
            }
        }

        var replaced = 0;
        foreach (var node in graph.Node)
        {
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is not null)
                {
                    replaced += RewriteGraph(attribute.G, initializers, transposes, copies);
                }

                foreach (var subgraph in attribute.Graphs)
                {
                    replaced += RewriteGraph(subgraph, initializers, transposes, copies);
                }
            }

            // MatMulInteger(A, B, a_zero_point, b_zero_point) and DynamicQuantizeMatMul(A, B, b_scale, b_zero_point):
            // the weight's zero point is the fourth input of both.
            if (!(node.OpType == "MatMulInteger" && node.Domain.Length == 0 || node.OpType == "DynamicQuantizeMatMul" && node.Domain == "com.microsoft")
                || node.Input.Count < 4
                || !initializers.TryGetValue(node.Input[3], out var zeroPoint) || zeroPoint.Tensor.DataType != UInt8)
            {
                continue;
            }

            if (initializers.TryGetValue(node.Input[1], out var weight) && weight.Tensor.DataType == UInt8 && weight.Tensor.Dims.Count == 2)
            {
                node.Input[1] = Int8Copy(weight.Tensor, weight.Owner, transposed: false, copies);
            }
            else if (transposes.TryGetValue(node.Input[1], out var transpose)
                && initializers.TryGetValue(transpose.Node.Input[0], out var source) && source.Tensor.DataType == UInt8)
            {
                node.Input[1] = Int8Copy(source.Tensor, source.Owner, transposed: true, copies);
            }
            else
            {
                continue;
            }

            node.Input[3] = Int8Copy(zeroPoint.Tensor, zeroPoint.Owner, transposed: false, copies);
            replaced++;
        }

        return replaced;
    }

    /// <summary>The name of an int8 copy of <paramref name="tensor"/> (added beside it once), transposed if asked.</summary>
    private static string Int8Copy(Tensor tensor, Proto.Graph owner, bool transposed, Dictionary<string, string> copies)
    {
        var key = $"{tensor.Name}\n{transposed}";
        if (copies.TryGetValue(key, out var name))
        {
            return name;
        }

        var values = tensor.RawData.Length > 0 ? tensor.RawData.ToByteArray() : tensor.Int32Data.Select(v => (byte)v).ToArray();
        var shifted = new byte[values.Length];
        long rows = transposed ? tensor.Dims[0] : 1;
        var columns = transposed ? tensor.Dims[1] : values.Length;
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < columns; c++)
            {
                // Transposed: element (r, c) of the [rows, columns] source goes to (c, r).
                var at = (r * columns) + c;
                shifted[transposed ? (c * rows) + r : at] = unchecked((byte)(sbyte)(values[at] - 128));
            }
        }

        var copy = new Tensor
        {
            Name = tensor.Name + (transposed ? "_int8_transposed" : "_int8"),
            DataType = Int8,
            RawData = ByteString.CopyFrom(shifted),
        };
        copy.Dims.AddRange(transposed ? [tensor.Dims[1], tensor.Dims[0]] : tensor.Dims);
        owner.Initializer.Add(copy);
        copies[key] = copy.Name;
        return copy.Name;
    }

    /// <summary>Removes the uint8 originals that nothing reads any more, and transposes whose output nothing reads.</summary>
    private static void RemoveUnread(Proto.Graph graph, HashSet<string> originals)
    {
        var read = new HashSet<string>(graph.Output.Select(o => o.Name));
        QuantizedMatMulRewrite.CollectInputs(graph, read);
        RemoveUnreadTransposes(graph, read);

        read = new HashSet<string>(graph.Output.Select(o => o.Name));
        QuantizedMatMulRewrite.CollectInputs(graph, read);
        RemoveInitializers(graph, originals, read);
    }

    private static void RemoveUnreadTransposes(Proto.Graph graph, HashSet<string> read)
    {
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (node.OpType == "Transpose" && node.Output.Count == 1 && !read.Contains(node.Output[0]) && !graph.Output.Any(o => o.Name == node.Output[0]))
            {
                graph.Node.RemoveAt(i);
            }
        }

        foreach (var subgraph in graph.Node.SelectMany(n => n.Attribute).SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Append(a.G)))
        {
            RemoveUnreadTransposes(subgraph, read);
        }
    }

    private static void RemoveInitializers(Proto.Graph graph, HashSet<string> names, HashSet<string> read)
    {
        for (var i = graph.Initializer.Count - 1; i >= 0; i--)
        {
            if (names.Contains(graph.Initializer[i].Name) && !read.Contains(graph.Initializer[i].Name))
            {
                graph.Initializer.RemoveAt(i);
            }
        }

        foreach (var subgraph in graph.Node.SelectMany(n => n.Attribute).SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Append(a.G)))
        {
            RemoveInitializers(subgraph, names, read);
        }
    }

    private static bool HasVnni()
    {
        if (AvxVnni.IsSupported)
        {
            return true;
        }

        if (!(Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported))
        {
            return false;
        }

        // CPUID leaf 7, sub-leaf 0: ECX bit 11 is AVX512_VNNI.
        var (_, _, ecx, _) = X86Base.CpuId(7, 0);
        return (ecx & (1 << 11)) != 0;
    }
}
