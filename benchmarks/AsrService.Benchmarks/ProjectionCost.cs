using System.Diagnostics;
using AsrService.Core.Models;
using AsrService.Onnx.Graph;
using AsrService.Onnx.Graph.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = AsrService.Onnx.Graph.Proto.Tensor;
using static AsrService.Benchmarks.CommandOptions;

namespace AsrService.Benchmarks;

/// <summary>
/// <c>projection</c>: what the output projection (hidden state → 32,768 logits, <c>/proj_out</c>) costs inside a
/// decoder step, without the profiler. Three models are cut from the solo-step model and timed in turns in one process:
/// the step as it is, the step with the projection cut down to the first <c>--rows</c> rows of the vocabulary (an
/// ablation: its tokens mean nothing, but it reads only that part of the weights), and the projection alone. The
/// projection alone is timed twice: run after run (its weights stay in the cache) and after reading 64 MB of other
/// memory before each run (they come from memory). Inputs are random values of the shapes of a 7.5 s utterance with
/// 20 tokens decoded; a step's time does not depend on the values.
/// </summary>
internal static class ProjectionCost
{
    private const int EncoderFrames = 312;
    private const int PastTokens = 20;
    private const string Logits = "logits";

    /// <summary>Runs the comparison; a bad option or a model that cannot be prepared ends it with a one-line reason and exit code 2.</summary>
    public static int Run(string[] args)
    {
        try
        {
            // --weights exported: the weights as Moonshine exports them even where the CPU would take them as int8.
            RewrittenModelFile.Int8Weights &= (Option(args, "--weights") ?? "int8") switch
            {
                "int8" => true,
                "exported" => false,
                var other => throw new ArgumentException($"--weights must be int8 or exported, not '{other}'"),
            };
            return Measure(Option(args, "--model") ?? "tiny", (int)Number(args, "--rows", 1024), (int)Number(args, "--rounds", 16));
        }
        catch (Exception e) when (e is ArgumentException or IOException or ModelLoadException or InvalidOperationException)
        {
            Console.Error.WriteLine($"projection: {e.Message}");
            return 2;
        }
    }

    private static int Measure(string modelName, int rows, int rounds)
    {
        if (rows < 1 || rounds < 1)
        {
            throw new ArgumentException("--rows and --rounds must be 1 or more");
        }

        var cache = new ModelCache();
        var decoder = cache.Ensure(cache.Manifest.Get(modelName))["decoder"];
        var solo = RewrittenModelFile.PrepareSoloStep(decoder);
        if (solo.IsOriginal)
        {
            throw new ArgumentException($"the {modelName} model has no solo-step model");
        }

        var bytes = solo.Bytes ?? File.ReadAllBytes(solo.Path);
        var step = Model.Parser.ParseFrom(bytes);
        var projection = step.Graph.Node.Single(n => n.Output.Contains(Logits));
        var vocabulary = WeightRows(step, projection);
        if (rows >= vocabulary)
        {
            throw new ArgumentException($"--rows must be below the vocabulary size, {vocabulary}");
        }

        using var whole = Session(bytes);
        using var cut = Session(CutProjection(step.Clone(), rows));
        using var alone = Session(ProjectionAlone(step.Clone()));
        var stepInputs = RandomInputs(whole);
        var aloneInputs = RandomInputs(alone);
        var evict = new byte[64 << 20];

        var cases = new (string Name, Action Run)[]
        {
            ("step, the whole projection", () => whole.Run(stepInputs).Dispose()),
            ($"step, the projection cut to {rows} rows", () => cut.Run(stepInputs).Dispose()),
            ("the projection alone, run after run", () => alone.Run(aloneInputs).Dispose()),
            ("the projection alone, after reading 64 MB", () =>
            {
                Evict(evict);
                alone.Run(aloneInputs).Dispose();
            }),
            ("reading 64 MB (subtracted from the case above)", () => Evict(evict)),
        };

        var times = cases.Select(_ => new List<double>()).ToArray();
        const int runs = 100;
        foreach (var (_, run) in cases)
        {
            for (var i = 0; i < 20; i++)
            {
                run();
            }
        }

        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < cases.Length; k++)
            {
                // A different case first in every round, so that no case always follows the same one.
                var index = (k + round) % cases.Length;
                var started = Stopwatch.GetTimestamp();
                for (var i = 0; i < runs; i++)
                {
                    cases[index].Run();
                }

                times[index].Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds / runs);
            }
        }

        var medians = times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
        Console.WriteLine($"model {modelName}, {(RewrittenModelFile.Int8Weights ? "int8" : "uint8")} weights, one intra-op thread, {rounds} rounds of {runs} runs of each case in turn; medians of the rounds");
        Console.WriteLine();
        Console.WriteLine("| case | µs a run |");
        Console.WriteLine("|---|---:|");
        for (var k = 0; k < cases.Length - 1; k++)
        {
            var value = k == 3 ? medians[3] - medians[4] : medians[k];
            Console.WriteLine($"| {cases[k].Name} | {value:F0} |");
        }

        Console.WriteLine();
        Console.WriteLine($"The projection's part of a step: {medians[0] - medians[1]:F0} µs of {medians[0]:F0} ({(medians[0] - medians[1]) / medians[0]:P0}), less the {rows} rows kept.");
        return 0;
    }

    /// <summary>The vocabulary size: the output projection's columns.</summary>
    private static int WeightRows(Model model, Node projection)
    {
        var (weight, transpose) = WeightOf(model, projection);
        return (int)weight.Dims[transpose is null ? 1 : 0];
    }

    /// <summary>
    /// The projection's weight: the token embedding [vocabulary, hidden] and the <c>Transpose</c> that the projection
    /// reads it through, as exported; or, with the int8 weights (<c>Int8WeightRewrite</c>), an initializer already
    /// transposed to [hidden, vocabulary] and no <c>Transpose</c>.
    /// </summary>
    private static (Tensor Weight, Node? Transpose) WeightOf(Model model, Node projection)
    {
        var transpose = model.Graph.Node.SingleOrDefault(n => n.Output.Contains(projection.Input[1]) && n.OpType == "Transpose");
        var name = transpose?.Input[0] ?? projection.Input[1];
        return (model.Graph.Initializer.Single(t => t.Name == name), transpose);
    }

    /// <summary>The step with the projection multiplying by the weights of the first <paramref name="rows"/> tokens only.</summary>
    private static byte[] CutProjection(Model model, int rows)
    {
        var graph = model.Graph;
        var projection = graph.Node.Single(n => n.Output.Contains(Logits));
        var (weight, transpose) = WeightOf(model, projection);
        var part = new Tensor { Name = weight.Name + "_rows", DataType = weight.DataType };
        if (transpose is not null)
        {
            // [vocabulary, hidden]: the first rows.
            var columns = (int)weight.Dims[1];
            part.RawData = ByteString.CopyFrom(weight.RawData.Span[..(rows * columns)]);
            part.Dims.Add([rows, columns]);
            var cut = transpose.Clone();
            cut.Name += "_rows";
            cut.Input[0] = part.Name;
            cut.Output[0] = part.Name + "_transposed";
            graph.Node.Insert(graph.Node.IndexOf(projection), cut);
            projection.Input[1] = cut.Output[0];
        }
        else
        {
            // [hidden, vocabulary]: the first columns of every row.
            var (hidden, vocabulary) = ((int)weight.Dims[0], (int)weight.Dims[1]);
            var values = new byte[hidden * rows];
            for (var k = 0; k < hidden; k++)
            {
                weight.RawData.Span.Slice(k * vocabulary, rows).CopyTo(values.AsSpan(k * rows));
            }

            part.RawData = ByteString.CopyFrom(values);
            part.Dims.Add([hidden, rows]);
            projection.Input[1] = part.Name;
            graph.Initializer.Remove(weight);
        }

        graph.Initializer.Add(part);
        graph.Output.Single(o => o.Name == Logits).Type.TensorType.Shape.Dim[^1].DimValue = rows;
        return model.ToByteArray();
    }

    /// <summary>The projection (and the transpose that makes its weights, if any), with the projection's activation as the input.</summary>
    private static byte[] ProjectionAlone(Model model)
    {
        var graph = model.Graph;
        var projection = graph.Node.Single(n => n.Output.Contains(Logits));
        var (weight, transpose) = WeightOf(model, projection);
        var used = new HashSet<string>([.. transpose?.Input ?? [], .. projection.Input]);
        var initializers = graph.Initializer.Where(t => used.Contains(t.Name)).ToList();
        var logits = graph.Output.Single(o => o.Name == Logits);
        var input = logits.Clone();
        input.Name = projection.Input[0];
        input.Type.TensorType.Shape.Dim[^1].DimValue = weight.Dims[transpose is null ? 0 : 1];

        graph.Node.Clear();
        if (transpose is not null)
        {
            graph.Node.Add(transpose);
        }

        graph.Node.Add(projection);
        graph.Initializer.Clear();
        graph.Initializer.AddRange(initializers);
        graph.Input.Clear();
        graph.Input.Add(input);
        graph.Output.Clear();
        graph.Output.Add(logits);
        graph.ValueInfo.Clear();
        return model.ToByteArray();
    }

    private static InferenceSession Session(byte[] model)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
        };
        options.AddSessionConfigEntry("optimization.disable_specified_optimizers", SoloStepRewrite.DisabledOptimizers);
        return new InferenceSession(model, options);
    }

    private static List<NamedOnnxValue> RandomInputs(InferenceSession session)
    {
        var random = new Random(1);
        var inputs = new List<NamedOnnxValue>();
        foreach (var (name, meta) in session.InputMetadata)
        {
            var dims = meta.Dimensions.Select(d => d >= 0 ? d : name.Contains(".decoder.", StringComparison.Ordinal) ? PastTokens : EncoderFrames).ToArray();
            var count = dims.Aggregate(1, (a, b) => a * b);
            inputs.Add(meta.ElementDataType switch
            {
                TensorElementType.Int64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(Enumerable.Repeat(42L, count).ToArray(), dims)),
                TensorElementType.Bool => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<bool>(Enumerable.Repeat(true, count).ToArray(), dims)),
                _ => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray(), dims)),
            });
        }

        return inputs;
    }

    private static void Evict(byte[] buffer)
    {
        for (var i = 0; i < buffer.Length; i += 64)
        {
            buffer[i]++;
        }
    }
}
