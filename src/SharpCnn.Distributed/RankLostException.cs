namespace SharpCnn.Distributed;

/// <summary>
/// An exchange between the ranks did not complete in time or failed: a rank died or hung. The message names the
/// rank (its number, process id and host) and the step it did not reach; the job cannot go on and should be ended
/// (<see cref="MpiReducer.AbortJob"/>) and resumed from the last checkpoint.
/// </summary>
public sealed class RankLostException : Exception
{
    /// <summary>Makes the exception.</summary>
    public RankLostException(string message, IReadOnlyList<int> missing, long step)
        : base(message)
    {
        Missing = missing;
        Step = step;
    }

    /// <summary>Makes the exception (no ranks named).</summary>
    public RankLostException()
        : this("a rank was lost", [], 0)
    {
    }

    /// <summary>Makes the exception (no ranks named).</summary>
    public RankLostException(string message)
        : this(message, [], 0)
    {
    }

    /// <summary>Makes the exception (no ranks named).</summary>
    public RankLostException(string message, Exception inner)
        : base(message, inner)
    {
        Missing = [];
    }

    /// <summary>The ranks that did not arrive (empty when this rank could not tell).</summary>
    public IReadOnlyList<int> Missing { get; } = [];

    /// <summary>The training step whose exchange was lost (0: before the first step).</summary>
    public long Step { get; }
}
