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
}
