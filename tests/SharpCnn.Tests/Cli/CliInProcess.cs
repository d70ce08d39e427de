// Runs the sharpcnn command line inside the test process, with Console.Out and Console.Error
// captured. Console is process-wide, so runs are serialised.

using SharpCnn.Cli;

namespace SharpCnn.Tests.Cli;

internal static class CliInProcess
{
    private static readonly Lock Gate = new();

    public static (int ExitCode, string[] Stdout, string[] Stderr) Run(string[] args)
    {
        lock (Gate)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var (savedOut, savedError) = (Console.Out, Console.Error);
            Console.SetOut(output);
            Console.SetError(error);
            int exitCode;
            try
            {
                exitCode = CommandLine.Run(args);
            }
            finally
            {
                Console.SetOut(savedOut);
                Console.SetError(savedError);
            }
            return (exitCode, Lines(output), Lines(error));
        }
    }

    private static string[] Lines(StringWriter writer) => writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
}
