using System.CommandLine;

namespace SharpCnn.Cli;

/// <summary>The <c>sharpcnn</c> command line: its commands, and running it on arguments.</summary>
internal static class CommandLine
{
    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand Create() => new("SharpCnn: a convolutional-neural-network engine in pure C#, with hand-derived, gradient-checked backpropagation.")
    {
        TrainCommand.Create(),
        PredictCommand.Create(),
        ServeCommand.Create(),
        EvalCommand.Create(),
        GradcheckCommand.Create(),
        SummaryCommand.Create(),
        ExportOnnxCommand.Create(),
        ImportOnnxCommand.Create(),
        BenchCommand.Create(),
        ExperimentsCommand.Create(),
        ViewCommand.Create(),
    };

    /// <summary>Parses and runs <paramref name="args"/>; every failure is one line on standard error and a non-zero exit code.</summary>
    public static int Run(string[] args, InvocationConfiguration? configuration = null) => CommandErrors.Invoke(Create(), args, configuration);
}
