using MemRL.Errors;

namespace MemRL.Core;

/// <summary>The Q update of paper Eq. 4 (gamma = 0, a Monte-Carlo EMA): <c>Q ← Q + alpha(R − Q)</c>, optionally floored.</summary>
public static class QRule
{
    /// <summary>The updated Q.</summary>
    public static double Update(double q, double reward, double alpha, double? floor)
    {
        double updated = q + (alpha * (reward - q));
        return floor is { } f && updated < f ? f : updated;
    }

    /// <summary>
    /// The updated Q, or an error when it would not be finite: two finite rewards far apart (−1.7e308, then +1.7e308)
    /// overflow <c>R − Q</c>, and an infinite Q would poison every later score of its memory.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The update leaves the finite range (reason <see cref="Reasons.NotFinite"/>).</exception>
    public static double UpdateFinite(double q, double reward, double alpha, double? floor, string field = "reward")
    {
        double updated = Update(q, reward, alpha, floor);
        if (!double.IsFinite(updated))
        {
            throw FieldError.OutOfRange(field, $"a reward that keeps Q finite (a memory's Q is {FieldError.Format(q)}; this reward makes it {FieldError.Format(updated)})",
                FieldError.Format(reward), Reasons.NotFinite);
        }

        return updated;
    }

    /// <summary>Throws unless <paramref name="reward"/> is a finite number.</summary>
    public static void ValidateReward(double reward, string paramName = "reward")
    {
        if (!double.IsFinite(reward))
        {
            throw FieldError.OutOfRange(paramName, "a finite number", FieldError.Format(reward));
        }
    }
}
