using System.CommandLine;
using AsrService.Core.Models;
using AsrService.Onnx;

namespace AsrService.Cli.Commands;

/// <summary><c>asr models list|download</c>: what the manifest offers and where the cache keeps it.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List the known models and whether they are in the cache.");
        list.SetAction(_ =>
        {
            var cache = new ModelCache();
            Console.WriteLine($"cache: {cache.Root}");
            foreach (var model in cache.Manifest.Models)
            {
                var present = model.Files.Values.All(f => File.Exists(cache.PathOf(f)));
                Console.WriteLine($"{model.Name,-12} {model.Kind,-10} {(present ? "cached " : "missing")} {model.Description}");
            }

            return ExitCodes.Success;
        });

        var names = new Argument<string[]>("names") { Description = "Models to download (default: all).", Arity = ArgumentArity.ZeroOrMore };
        var download = new Command("download", "Download models into the cache, verify them and prepare their CPU graph rewrites.") { names };
        download.SetAction((parse, cancellationToken) =>
        {
            var cache = new ModelCache(log: message => Console.Error.WriteLine($"asr: {message}"));
            var wanted = parse.GetValue(names) is { Length: > 0 } given ? given.Select(cache.Manifest.Get) : cache.Manifest.Models;
            foreach (var model in wanted)
            {
                foreach (var path in cache.Ensure(model, cancellationToken).Values)
                {
                    Console.WriteLine(path);
                    if (model.Kind == "moonshine")
                    {
                        foreach (var prepared in OnnxSpeechModels.PrepareGraphRewrites(path))
                        {
                            Console.WriteLine(prepared);
                        }
                    }
                }
            }

            return Task.FromResult(ExitCodes.Success);
        });

        return new Command("models", "Manage the model cache.") { list, download };
    }
}
