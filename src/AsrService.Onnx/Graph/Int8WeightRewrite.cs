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

        var rewrite = new Rewrite();
        var replaced = rewrite.Graph(model.Graph, [], []);
        if (replaced > 0)
        {
            rewrite.RemoveUnread(model.Graph);
        }

        return replaced;
    }

    /// <summary>One model's rewrite: the int8 copies made so far, and what they may have left unread.</summary>
    private sealed class Rewrite
    {
        // Keyed by name: hashing a protobuf message would hash all its bytes.
        private readonly Dictionary<(string Source, bool Transposed), string> _copies = [];

        // Lists, since each branch of an If may hold its own Transpose of the same name; removing twice is harmless.
        private readonly List<(Tensor Tensor, Proto.Graph Owner)> _originals = [];
        private readonly List<(Node Node, Proto.Graph Owner)> _transposes = [];

        public int Graph(
            Proto.Graph graph, Dictionary<string, (Tensor Tensor, Proto.Graph Owner)> outerInitializers,
            Dictionary<string, (Node Node, Proto.Graph Owner)> outerTransposes)
        {
            var initializers = new Dictionary<string, (Tensor Tensor, Proto.Graph Owner)>(outerInitializers);
            foreach (var tensor in graph.Initializer)
            {
                initializers[tensor.Name] = (tensor, graph);
            }

            var tensors = initializers.ToDictionary(p => p.Key, p => p.Value.Tensor);
            var transposes = new Dictionary<string, (Node Node, Proto.Graph Owner)>(outerTransposes);
            foreach (var node in graph.Node)
            {
                if (QuantizedMatMulRewrite.IsWeightTranspose(node, tensors, out _))
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
                        replaced += Graph(attribute.G, initializers, transposes);
                    }

                    foreach (var subgraph in attribute.Graphs)
                    {
                        replaced += Graph(subgraph, initializers, transposes);
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
                    node.Input[1] = Copy(weight, transposed: false);
                }
                else if (transposes.TryGetValue(node.Input[1], out var transpose)
                    && initializers.TryGetValue(transpose.Node.Input[0], out var source) && source.Tensor.DataType == UInt8)
                {
                    node.Input[1] = Copy(source, transposed: true);
                    _transposes.Add(transpose);
                }
                else
                {
                    continue;
                }

                node.Input[3] = Copy(zeroPoint, transposed: false);
                replaced++;
            }

            return replaced;
        }

        /// <summary>The name of an int8 copy of <paramref name="original"/> (added beside it once), transposed if asked.</summary>
        private string Copy((Tensor Tensor, Proto.Graph Owner) original, bool transposed)
        {
            var tensor = original.Tensor;
            if (_copies.TryGetValue((tensor.Name, transposed), out var name))
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
            original.Owner.Initializer.Add(copy);
            _copies[(tensor.Name, transposed)] = copy.Name;
            _originals.Add(original);
            return copy.Name;
        }

        /// <summary>
        /// Removes the transposes that the copies bypass and the uint8 originals they replace, each from the graph that
        /// holds it, where nothing reads it any more (the token embedding stays for its lookup).
        /// </summary>
        public void RemoveUnread(Proto.Graph model)
        {
            var read = Read(model);
            foreach (var (node, owner) in _transposes)
            {
                var name = node.Output[0];
                if (!read.Contains(name) && !owner.Output.Any(o => o.Name == name))
                {
                    owner.Node.Remove(node);
                }
            }

            read = Read(model);
            foreach (var (tensor, owner) in _originals)
            {
                var name = tensor.Name;
                if (!read.Contains(name) && !owner.Output.Any(o => o.Name == name))
                {
                    owner.Initializer.Remove(tensor);
                }
            }
        }

        /// <summary>Every name that the model's outputs or any node (nested graphs included) reads.</summary>
        private static HashSet<string> Read(Proto.Graph model)
        {
            var read = new HashSet<string>(model.Output.Select(o => o.Name));
            QuantizedMatMulRewrite.CollectInputs(model, read);
            return read;
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
