using System.Runtime.InteropServices;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM (a container stop, a scheduler's preemption) during <c>train</c>: the first one asks the
/// trainer to stop after the step in progress (<see cref="TrainingStop"/>), which writes a checkpoint there, and
/// cancels the default termination; <c>train</c> then prints the command that resumes and exits with 130 (SIGINT) or 143
/// (SIGTERM), the shell's codes for those signals. A second signal is not cancelled: the process ends at once, and
/// since every file is written atomically it leaves each file either as it was or complete.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly TrainingStop stop;
    private readonly TextWriter error;
    private readonly List<PosixSignalRegistration> registrations = [];
    private int received;
    private volatile string? name;
    private volatile int exitCode;

    public StopSignals(TrainingStop stop, TextWriter error)
    {
        this.stop = stop;
        this.error = error;
        Register(PosixSignal.SIGINT, "SIGINT", 130);
        Register(PosixSignal.SIGTERM, "SIGTERM", 143);
    }

    /// <summary>The signal that stopped the run, or null.</summary>
    public string? Name => name;

    /// <summary>The exit code for the signal that stopped the run (130 or 143), or null when none came.</summary>
    public int? ExitCode => exitCode == 0 ? null : exitCode;

    private void Register(PosixSignal signal, string signalName, int code)
    {
        try
        {
            registrations.Add(PosixSignalRegistration.Create(signal, context => Handle(context, signalName, code)));
        }
        catch (PlatformNotSupportedException)
        {
            // SIGTERM on Windows: a console close there ends the process as before.
        }
    }

    private void Handle(PosixSignalContext context, string signalName, int code)
    {
        if (Interlocked.Increment(ref received) > 1) return; // the second: the default action, which ends the process at once
        context.Cancel = true;
        name = signalName;
        exitCode = code;
        stop.Request(signalName);
        try
        {
            error.WriteLine($"{signalName}: stopping after the step in progress and writing a checkpoint; a second {signalName} ends at once");
            error.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // A closed terminal: stopping matters more than saying so.
        }
    }

    public void Dispose()
    {
        foreach (var registration in registrations) registration.Dispose();
    }
}
