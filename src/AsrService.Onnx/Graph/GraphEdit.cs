using AsrService.Onnx.Graph.Proto;

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

    /// <summary>An INT attribute.</summary>
    public static Proto.Attribute IntAttribute(string name, long value) => new() { Name = name, I = value, Type = 2 };

    /// <summary>An INTS attribute.</summary>
    public static Proto.Attribute IntsAttribute(string name, params long[] values) => new() { Name = name, Ints = { values }, Type = 7 };
}
