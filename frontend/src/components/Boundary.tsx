import { Component, type ReactNode } from "react";

/**
 * A render error inside one part of the screen (the bar, the panel, a page) shows a message
 * in that part; the rest keeps working. `resetKey` clears the error (e.g. on navigation).
 */
export class Boundary extends Component<{ children: ReactNode; what: string; resetKey?: string }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidUpdate(previous: { resetKey?: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  override render() {
    if (this.state.error) {
      return (
        <div role="alert" className="error-message boundary">
          {this.props.what} failed to show: {this.state.error.message}. Reload the page to try again.
        </div>
      );
    }
    return this.props.children;
  }
}
