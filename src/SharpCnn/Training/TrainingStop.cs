namespace SharpCnn.Training;

/// <summary>
/// A request to end training cleanly, from any thread: a signal handler (Ctrl-C, SIGTERM), a stop
/// button on a page, a test. <see cref="Trainer{T}.Fit(Data.ImageDataSet, Data.ImageDataSet?, Data.ImageDataSet?, CancellationToken)"/>
/// looks at it after every step: the step in progress finishes (its update applied), a checkpoint is
/// written to <see cref="TrainingOptions.CheckpointPath"/> when one is set (whether or not checkpoints
/// are written every few steps), and Fit returns with <see cref="TrainingResult.Stopped"/> set, so the
/// run resumes from that checkpoint bit for bit. Unlike cancelling the token, nothing is thrown and no
/// work since the last checkpoint is lost.
/// </summary>
/// <remarks>
/// Every member may be called from any thread at any time. When a batch is shared by several processes
/// (data-parallel training over MPI), each process decides on its own: a stop must then be requested in
/// every process before the same step, or the others wait for it at the next exchange.
/// </remarks>
public sealed class TrainingStop
{
    private string? reason;

    /// <summary>Asks training to stop after the step in progress. The first request's reason is kept.</summary>
    /// <param name="why">Shown in <see cref="TrainingResult.StopReason"/> ("stopped (why)").</param>
    public void Request(string why)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(why);
        Interlocked.CompareExchange(ref reason, why, null);
    }

    /// <summary>True once <see cref="Request"/> has been called.</summary>
    public bool IsRequested => Volatile.Read(ref reason) is not null;

    /// <summary>The first request's reason, or null.</summary>
    public string? Reason => Volatile.Read(ref reason);
}
