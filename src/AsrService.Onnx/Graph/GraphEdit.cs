using System.Globalization;
using System.Runtime.InteropServices;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;

namespace AsrService.Onnx.Graph;

/// <summary>Small edits that several rewrites make to a graph.</summary>
internal static class GraphEdit
{
    /// <summary>Points every input of <paramref name="node"/> that reads <paramref name="from"/> at <paramref name="to"/>.</summary>
    public static void RenameInput(Node node, string from, string to)
    {
        for (var i = 0; i < node.Input.Count; i++)
        {
            if (node.Input[i] == from)
            {
                node.Input[i] = to;
            }
        }
    }

    /// <summary>Points every reader of <paramref name="from"/> in <paramref name="graph"/> at <paramref name="to"/>.</summary>
    public static void RenameInput(Proto.Graph graph, string from, string to)
    {
        foreach (var node in graph.Node)
        {
            RenameInput(node, from, to);
        }
    }

    /// <summary>The node that writes each value of <paramref name="graph"/>, by value name.</summary>
    public static Dictionary<string, Node> Producers(Proto.Graph graph)
    {
        var producers = new Dictionary<string, Node>();
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producers[output] = node;
            }
        }

        return producers;
    }

    /// <summary>The nodes that contribute to <paramref name="outputs"/>, in their original order.</summary>
    public static List<Node> LiveNodes(IEnumerable<Node> nodes, IEnumerable<string> outputs)
    {
        var all = nodes.ToList();
        var needed = new HashSet<string>(outputs);
        var live = new bool[all.Count];
        for (var i = all.Count - 1; i >= 0; i--)
        {
            if (all[i].Output.Any(needed.Contains))
            {
                live[i] = true;
                needed.UnionWith(all[i].Input);
            }
        }

        return all.Where((_, i) => live[i]).ToList();
    }

    /// <summary>
    /// Drops the nodes, initializers, inputs and value infos of <paramref name="graph"/> that none of its outputs
    /// depends on (a graph cut down to a part of a model). Values that subgraphs read from outside are not followed,
    /// so this is for graphs without control flow, such as the encoder.
    /// </summary>
    public static void KeepOnlyWhatOutputsNeed(Proto.Graph graph)
    {
        var kept = LiveNodes(graph.Node, graph.Output.Select(o => o.Name));
        var needed = new HashSet<string>(graph.Output.Select(o => o.Name).Concat(kept.SelectMany(n => n.Input)));
        graph.Node.Clear();
        graph.Node.Add(kept);
        var initializers = graph.Initializer.Where(t => needed.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.Add(initializers);
        var inputs = graph.Input.Where(i => needed.Contains(i.Name)).ToList();
        graph.Input.Clear();
        graph.Input.Add(inputs);
        var infos = graph.ValueInfo.Where(v => needed.Contains(v.Name)).ToList();
        graph.ValueInfo.Clear();
        graph.ValueInfo.Add(infos);
    }

    /// <summary>ONNX's element type codes used by the rewrites.</summary>
    public const int Float = 1;
    public const int Int64 = 7;
    public const int Float16 = 10;

    public static Node NewNode(string opType, string name, string[] inputs, string output, params Proto.Attribute[] attributes)
    {
        var node = new Node { OpType = opType, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        return node;
    }

    /// <summary>A graph input or output of a tensor of <paramref name="elementType"/>, shape unstated.</summary>
    public static ValueInfo TensorValue(string name, int elementType) =>
        new() { Name = name, Type = new TypeInfo { TensorType = new TensorType { ElemType = elementType } } };

    /// <summary>A 1-D int64 initializer.</summary>
    public static Tensor Int64Tensor(string name, params long[] values) =>
        new() { Name = name, DataType = Int64, Dims = { values.Length }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };

    /// <summary>The values of an int64 initializer, or null when <paramref name="name"/> is not one.</summary>
    public static long[]? Int64Values(Dictionary<string, Tensor> initializers, string name) =>
        initializers.TryGetValue(name, out var tensor) && tensor.DataType == Int64
            ? tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray() : [.. tensor.Int64Data]
            : null;

    /// <summary>The input of a two-input node other than <paramref name="input"/>, or null when it is not one of them.</summary>
    public static string? OtherInput(Node node, string input) =>
        node.Input.Count == 2 ? node.Input[0] == input ? node.Input[1] : node.Input[1] == input ? node.Input[0] : null : null;

    /// <summary>
    /// Whether a convolution pads nothing and dilates nothing, so that each output frame reads only its own window of
    /// input frames. An <c>auto_pad</c> attribute of any value counts as padding (our schema subset does not read its
    /// string, and the Moonshine exports carry none).
    /// </summary>
    public static bool IsUnpadded(Node conv) =>
        conv.Attribute.All(a => a.Name switch
        {
            "pads" => a.Ints.All(p => p == 0),
            "auto_pad" => false,
            "dilations" => a.Ints.All(d => d == 1),
            _ => true,
        });

    /// <summary>The stride of a one-dimensional convolution, or null when it has none or several.</summary>
    public static long? Stride(Node conv) =>
        conv.Attribute.FirstOrDefault(a => a.Name == "strides") is { Ints: [var stride] } ? stride : null;

    /// <summary>A model metadata entry holding a number.</summary>
    public static StringStringEntry Metadata(string key, long value) =>
        new() { Key = key, Value = value.ToString(CultureInfo.InvariantCulture) };

    /// <summary>An INT attribute.</summary>
    public static Proto.Attribute IntAttribute(string name, long value) => new() { Name = name, I = value, Type = 2 };

    /// <summary>An INTS attribute.</summary>
    public static Proto.Attribute IntsAttribute(string name, params long[] values) => new() { Name = name, Ints = { values }, Type = 7 };
}
