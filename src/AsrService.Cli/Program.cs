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
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
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
