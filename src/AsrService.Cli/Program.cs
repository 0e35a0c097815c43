using System.CommandLine;
using AsrService.Cli;
using AsrService.Cli.Commands;
using AsrService.Core.Audio;
using AsrService.Core.Models;

var root = new RootCommand("AsrService: speech recognition with Silero VAD and Moonshine on ONNX Runtime.")
{
    TranscribeCommand.Create(),
    ServeCommand.Create(),
    StreamCommand.Create(),
    EvaluateCommand.Create(),
    BenchCommand.Create(),
    ModelsCommand.Create(),
};

try
{
    var parse = root.Parse(args);

    // System.CommandLine ends the process 2 s after SIGTERM/Ctrl+C; the server needs its shutdown grace period, so it
    // leaves those signals to its host, which drains and then returns here.
    var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
    if (parse.CommandResult.Command.Name == "serve")
    {
        invocation.ProcessTerminationTimeout = null;
    }

    return await parse.InvokeAsync(invocation);
}
catch (ModelLoadException e)
{
    CliErrors.Report(e.Message);
    return ExitCodes.ModelUnavailable;
}
catch (AudioFormatException e)
{
    CliErrors.Report(e.Message);
    return ExitCodes.BadInput;
}
catch (ArgumentException e)
{
    return CliErrors.Usage(e.Message);
}
catch (OperationCanceledException)
{
    CliErrors.Report("cancelled");
    return ExitCodes.Cancelled;
}
